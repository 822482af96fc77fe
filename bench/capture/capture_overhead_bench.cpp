// Capture overhead: the same run with CUPTI capture on and off, in one process, alternating so
// drift in clocks or temperature hits both alike. Prints one JSON object with the median step time
// of each and overhead_pct. Usage: capture_overhead_bench PRESET STEPS [BATCH SEQ PRECISION OPTIM BUDGET_GIB]
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "engine/trainer.h"

using namespace optiscope;

namespace {

struct Collect final : engine::RunRecorder {
  std::vector<double> ms;
  std::int64_t um_events = 0;
  std::int64_t kernels = 0;
  void on_bundle(const StepBundle& b) override {
    if (b.step) ms.push_back(b.step->step_ms);
    um_events += static_cast<std::int64_t>(b.um_events.size());
    kernels += static_cast<std::int64_t>(b.kernels.size());
  }
};

double median_after_warmup(std::vector<double> v, std::size_t warmup) {
  if (v.size() <= warmup) return 0;
  v.erase(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(warmup));
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  RunSpec spec;
  spec.model = argc > 1 ? argv[1] : "tiny";
  spec.max_steps = argc > 2 ? std::stoi(argv[2]) : 30;
  if (argc > 3) spec.per_device_train_batch_size = std::stoi(argv[3]);
  if (argc > 4) spec.max_seq_length = std::stoi(argv[4]);
  if (argc > 5) spec.precision = argv[5];
  spec.optim = argc > 6 ? argv[6] : "paged_adamw_8bit";
  // A budget that forces paging makes the capture carry real migration traffic.
  if (argc > 7) spec.device_budget_bytes = static_cast<std::uint64_t>(std::stod(argv[7]) * (1ull << 30));
  spec.device = "cuda";
  std::vector<double> on;
  std::vector<double> off;
  std::int64_t events = 0;
  std::int64_t kernels = 0;
  std::string note;
  for (int round = 0; round < 2; ++round) {
    for (const bool capture : {false, true}) {
      Collect c;
      engine::TrainOptions o;
      o.capture = capture;
      // Both in every-step mode (what a capturing run uses): the difference is the capture's alone.
      o.deferred_readback = false;
      struct Notes final : engine::RunRecorder {
        Collect* inner;
        std::string* note;
        void on_capture(const CaptureInfo& i) override { *note = i.note; }
        void on_bundle(const StepBundle& b) override { inner->on_bundle(b); }
      } rec;
      rec.inner = &c;
      std::string n;
      rec.note = &n;
      const auto r = engine::train(spec, &rec, nullptr, o);
      if (r.outcome != Outcome::completed) {
        std::fprintf(stderr, "run failed: %s\n", r.detail.c_str());
        return 1;
      }
      const double m = median_after_warmup(c.ms, 5);
      (capture ? on : off).push_back(m);
      if (capture) {
        events += c.um_events;
        kernels += c.kernels;
        note = n;
      }
    }
  }
  const double m_on = (on[0] + on[1]) / 2;
  const double m_off = (off[0] + off[1]) / 2;
  std::printf(
      "{\"preset\": \"%s\", \"optim\": \"%s\", \"precision\": \"%s\", \"batch\": %d, \"seq\": %d, \"steps\": "
      "%d, "
      "\"budget_gib\": %.1f, \"step_ms_capture_off\": %.3f, \"step_ms_capture_on\": %.3f, \"overhead_pct\": "
      "%.2f, "
      "\"um_events\": %lld, \"kernels\": %lld, \"capture_note\": \"%s\"}\n",
      spec.model.c_str(), spec.optim.c_str(), spec.precision.c_str(), spec.per_device_train_batch_size,
      spec.max_seq_length, spec.max_steps, static_cast<double>(spec.device_budget_bytes) / (1ull << 30),
      m_off, m_on, 100.0 * (m_on - m_off) / m_off, static_cast<long long>(events),
      static_cast<long long>(kernels), note.c_str());
  return 0;
}
