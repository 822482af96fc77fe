// Throughput and peak allocated memory of Optiscope's engine on one geometry, the way the article's
// runs train: random init, per-device batch x sequence, the given precision and optimizer, no
// CUPTI capture (it is off in the reference too). Prints one JSON object.
//   optiscope_engine_bench --preset llama-3.2-1b [--batch 4] [--seq-len 512] [--precision bf16]
//                          [--optim adamw_torch_fused] [--warmup 3] [--steps 20] [--device cuda]
//                          [--gradient-checkpointing] [--no-fused] [--loss-chunks N] [--kernels N]
// The benchmark times the fused CUDA ops of core/model (the default; it sets OPTISCOPE_FUSED_OPS=1
// unless the caller's environment says otherwise); --no-fused times the LibTorch ops.
// --kernels N turns CUPTI capture on and adds the N kernels with the most device time per timed
// step ("kernels", demangled names); capture costs time, so take step_ms from a run without it.
// step_ms is the engine's own (device time per step without capture, which reads each step back
// one step late; host clock around each synchronised step with it); wall_step_ms checks it with
// the host clock between the records of the last warm-up step and of the last step.
#include <cxxabi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/trainer.h"

using namespace optiscope;

namespace {

std::string demangled(const std::string& name) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> d(abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status),
                                                &std::free);
  return status == 0 && d ? std::string(d.get()) : name;
}

// Whether the model's fused CUDA ops can be on: a CUDA build, not switched off. (They apply to
// bf16 CUDA tensors only.)
bool fused_ops_on() {
#ifdef OPTISCOPE_WITH_CUDA
  const char* env = std::getenv("OPTISCOPE_FUSED_OPS");
  return env != nullptr && std::string(env) == "1";
#else
  return false;
#endif
}

struct KernelTotal {
  std::int64_t launches = 0;
  std::int64_t ns = 0;
};

struct Recorder final : engine::RunRecorder {
  std::int64_t first_timed_step = 1;
  std::vector<StepRecord> steps;
  std::vector<std::int64_t> peak_allocated;                    // per step: the largest of its phase peaks
  std::vector<std::chrono::steady_clock::time_point> arrived;  // per step: when its record came
  std::map<std::string, KernelTotal> kernels;                  // timed steps only, by mangled name
  void on_bundle(const StepBundle& b) override {
    for (const auto& k : b.kernels) {
      if (k.step < first_timed_step) continue;
      auto& t = kernels[k.name];
      ++t.launches;
      t.ns += k.end_ns - k.start_ns;
    }
    if (!b.step) return;
    steps.push_back(*b.step);
    arrived.push_back(std::chrono::steady_clock::now());
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
  setenv("OPTISCOPE_FUSED_OPS", "1", 0);  // on unless the caller's environment says otherwise
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
  int top_kernels = 0;
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
    else if (a == "--loss-chunks")
      spec.loss_chunks = std::stoi(value());
    else if (a == "--no-fused")
      setenv("OPTISCOPE_FUSED_OPS", "0", 1);
    else if (a == "--kernels")
      top_kernels = std::stoi(value());
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  spec.max_steps = warmup + steps;
  Recorder rec;
  rec.first_timed_step = warmup + 1;
  engine::TrainOptions options;
  options.capture = top_kernels > 0;
  const auto result = engine::train(spec, &rec, nullptr, options);
  nlohmann::json out = {{"geometry", spec.model},
                        {"batch", spec.per_device_train_batch_size},
                        {"seq_len", spec.max_seq_length},
                        {"precision", spec.precision},
                        {"optim", spec.optim},
                        {"fused_ops", fused_ops_on()},
                        {"loss_chunks", spec.loss_chunks},
                        {"capture", options.capture},
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
    if (warmup > 0) {
      const auto wall = rec.arrived.back() - rec.arrived[static_cast<std::size_t>(warmup) - 1];
      out["wall_step_ms"] = std::chrono::duration<double, std::milli>(wall).count() / steps;
    }
    out["first_loss"] = rec.steps.front().loss;
    out["last_loss"] = rec.steps.back().loss;
  }
  if (top_kernels > 0) {
    std::vector<std::pair<std::string, KernelTotal>> sorted(rec.kernels.begin(), rec.kernels.end());
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return a.second.ns > b.second.ns; });
    std::int64_t all_ns = 0;
    std::int64_t all_launches = 0;
    for (const auto& [name, t] : sorted) {
      all_ns += t.ns;
      all_launches += t.launches;
    }
    auto list = nlohmann::json::array();
    for (std::size_t i = 0; i < sorted.size() && static_cast<int>(i) < top_kernels; ++i)
      list.push_back({{"name", demangled(sorted[i].first)},
                      {"launches_per_step", static_cast<double>(sorted[i].second.launches) / steps},
                      {"ms_per_step", static_cast<double>(sorted[i].second.ns) / 1e6 / steps}});
    out["kernel_ms_per_step"] = static_cast<double>(all_ns) / 1e6 / steps;
    out["kernel_launches_per_step"] = static_cast<double>(all_launches) / steps;
    out["distinct_kernels"] = sorted.size();
    out["kernels"] = list;
  }
  std::printf("%s\n", out.dump().c_str());
  return result.outcome == Outcome::completed ? 0 : 1;
}
