// CUDA-event phase timer: marks go on LibTorch's current stream, so timing needs no extra sync.
#include <ATen/cuda/CUDAContext.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "engine/phase_timer.h"

namespace optiscope::engine {

std::unique_ptr<PhaseTimer> make_host_phase_timer();

namespace {

class CudaPhaseTimer final : public PhaseTimer {
 public:
  explicit CudaPhaseTimer(int device) : device_(device) {}
  ~CudaPhaseTimer() override {
    for (auto e : events_) cudaEventDestroy(e);
  }
  void reset() override { used_ = 0; }
  int mark() override {
    if (used_ == events_.size()) {
      cudaEvent_t e = nullptr;
      if (cudaEventCreate(&e) != cudaSuccess) throw std::runtime_error("cudaEventCreate failed");
      events_.push_back(e);
    }
    cudaEventRecord(events_[used_],
                    at::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_)).stream());
    return static_cast<int>(used_++);
  }
  double elapsed_ms(int from, int to) override {
    float ms = 0.0f;
    const auto rc = cudaEventElapsedTime(&ms, events_.at(static_cast<std::size_t>(from)),
                                         events_.at(static_cast<std::size_t>(to)));
    if (rc != cudaSuccess)
      throw std::runtime_error(std::string("cudaEventElapsedTime: ") + cudaGetErrorString(rc));
    return ms;
  }
  void wait(int mark) override {
    const auto rc = cudaEventSynchronize(events_.at(static_cast<std::size_t>(mark)));
    if (rc != cudaSuccess)
      throw std::runtime_error(std::string("cudaEventSynchronize: ") + cudaGetErrorString(rc));
  }

 private:
  int device_;
  std::vector<cudaEvent_t> events_;
  std::size_t used_ = 0;
};

}  // namespace

std::unique_ptr<PhaseTimer> make_phase_timer(const c10::Device& device) {
  if (!device.is_cuda()) return make_host_phase_timer();
  return std::make_unique<CudaPhaseTimer>(device.has_index() ? device.index() : 0);
}

}  // namespace optiscope::engine
