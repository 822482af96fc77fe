#pragma once
// One fine-tuning run: model, data, precision and optimizer from a RunSpec, stepped until
// max_steps, a cancel, or an out-of-memory, which is a result, not a crash.
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "spec/run_spec.h"
#include "store/records.h"

namespace optiscope::engine {

struct TrainResult {
  Outcome outcome = Outcome::completed;
  std::string detail;
  std::optional<std::int64_t> oom_step;
  std::optional<std::int64_t> oom_bytes;
  std::int64_t steps_done = 0;
};

using StepSink = std::function<void(const StepRecord&)>;

TrainResult train(const RunSpec& spec, const StepSink& on_step, const std::atomic<bool>* cancel);

}  // namespace optiscope::engine
