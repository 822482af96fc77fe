// Host-clock phase timer: CPU runs (and the CPU device of a CUDA build).
#include <chrono>
#include <vector>

#include "engine/phase_timer.h"

namespace optiscope::engine {

class HostPhaseTimer final : public PhaseTimer {
 public:
  void reset() override { marks_.clear(); }
  int mark() override {
    marks_.push_back(std::chrono::steady_clock::now());
    return static_cast<int>(marks_.size()) - 1;
  }
  double elapsed_ms(int from, int to) override {
    return std::chrono::duration<double, std::milli>(marks_.at(static_cast<std::size_t>(to)) -
                                                     marks_.at(static_cast<std::size_t>(from)))
        .count();
  }
  void wait(int) override {}  // host marks are taken when the work is done

 private:
  std::vector<std::chrono::steady_clock::time_point> marks_;
};

std::unique_ptr<PhaseTimer> make_host_phase_timer() {
  return std::make_unique<HostPhaseTimer>();
}

#ifndef OPTISCOPE_WITH_CUDA
std::unique_ptr<PhaseTimer> make_phase_timer(const c10::Device&) {
  return make_host_phase_timer();
}
#endif

}  // namespace optiscope::engine
