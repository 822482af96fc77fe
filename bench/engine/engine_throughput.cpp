// Throughput and peak allocated memory of Optiscope's engine on one geometry, the way the article's
// runs train: random init, per-device batch x sequence, the given precision and optimizer, no
// CUPTI capture (it is off in the reference too). Prints one JSON object.
//   optiscope_engine_bench --preset llama-3.2-1b [--batch 4] [--seq-len 512] [--precision bf16]
//                          [--optim adamw_torch_fused] [--warmup 3] [--steps 20] [--device cuda]
//                          [--gradient-checkpointing]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/trainer.h"

using namespace optiscope;

namespace {

struct Recorder final : engine::RunRecorder {
  std::vector<StepRecord> steps;
  std::vector<std::int64_t> peak_allocated;  // per step: the largest of its phase peaks
  void on_bundle(const StepBundle& b) override {
    if (!b.step) return;
    steps.push_back(*b.step);
    std::int64_t peak = 0;
    for (const auto& m : b.memory) {
      // parameters + gradients + device state + activations is what the allocator handed out.
      if (m.point == SamplePoint::peak)
        peak = std::max(peak, m.parameters + m.gradients + m.optimizer_device + m.activations);
    }
    peak_allocated.push_back(peak);
  }
};

}  // namespace

int main(int argc, char** argv) {
  RunSpec spec;
  spec.model = "llama-3.2-1b";
  spec.per_device_train_batch_size = 4;
  spec.max_seq_length = 512;
  spec.precision = "bf16";
  spec.optim = "adamw_torch_fused";
  spec.device = "cuda";
  spec.learning_rate = 1e-5;
  spec.logging_steps = 1;
  int warmup = 3;
  int steps = 20;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--preset")
      spec.model = value();
    else if (a == "--batch")
      spec.per_device_train_batch_size = std::stoi(value());
    else if (a == "--seq-len")
      spec.max_seq_length = std::stoi(value());
    else if (a == "--precision")
      spec.precision = value();
    else if (a == "--optim")
      spec.optim = value();
    else if (a == "--device")
      spec.device = value();
    else if (a == "--warmup")
      warmup = std::stoi(value());
    else if (a == "--steps")
      steps = std::stoi(value());
    else if (a == "--gradient-checkpointing")
      spec.gradient_checkpointing = true;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  spec.max_steps = warmup + steps;
  Recorder rec;
  engine::TrainOptions options;
  options.capture = false;
  const auto result = engine::train(spec, &rec, nullptr, options);
  nlohmann::json out = {{"geometry", spec.model},
                        {"batch", spec.per_device_train_batch_size},
                        {"seq_len", spec.max_seq_length},
                        {"precision", spec.precision},
                        {"optim", spec.optim},
                        {"outcome", to_string(result.outcome)},
                        {"detail", result.detail}};
  if (result.outcome == Outcome::completed && static_cast<int>(rec.steps.size()) == spec.max_steps) {
    double ms = 0.0;
    std::int64_t tokens = 0;
    std::int64_t peak = 0;
    for (std::size_t i = static_cast<std::size_t>(warmup); i < rec.steps.size(); ++i) {
      ms += rec.steps[i].step_ms;
      tokens += rec.steps[i].tokens;
      peak = std::max(peak, rec.peak_allocated[i]);
    }
    out["timed_steps"] = steps;
    out["step_ms"] = ms / steps;
    out["tokens_per_s"] = static_cast<double>(tokens) / (ms / 1000.0);
    out["peak_gib"] = static_cast<double>(peak) / (1024.0 * 1024.0 * 1024.0);
    out["first_loss"] = rec.steps.front().loss;
    out["last_loss"] = rec.steps.back().loss;
  }
  std::printf("%s\n", out.dump().c_str());
  return result.outcome == Outcome::completed ? 0 : 1;
}
