#pragma once
// The few numbers that sum up a run's steps: how far it got, where the loss ended, how fast and
// how much memory. Computed from the store's step rows, nothing else.
#include <cstdint>
#include <optional>
#include <vector>

#include "store/records.h"
#include "store/run_summary.h"

namespace optiscope::ui {

struct RunSummary {
  std::int64_t steps = 0;                   // steps recorded
  std::optional<double> last_loss;          // the last step's loss: one batch, noisy
  std::optional<double> final_loss;         // mean of the last few steps: one noisy batch is no verdict
  std::optional<double> eval_loss;          // the last held-out evaluation, if the run had one
  std::optional<double> median_step_ms;     // median, so the warm-up steps do not skew it
  std::optional<double> tokens_per_second;  // median over the steps, like the step time
  std::optional<std::int64_t> peak_mem_bytes;
};

/// `tail` is how many final steps the final loss averages (the CLI and exports use the same
/// kFinalLossSteps, so every table shows one figure).
RunSummary summarize(const std::vector<StepRecord>& steps, int tail = kFinalLossSteps);

}  // namespace optiscope::ui
