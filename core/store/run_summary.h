#pragma once
// One line per run: the figures a comparison table needs (the article's three axes: loss, memory,
// time, plus paging), computed from the store alone so the CLI, the GUI and the docs agree.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/records.h"
#include "store/store.h"

namespace optiscope {

/// How many final steps the "final loss" averages, everywhere (CLI, GUI, report, exports).
inline constexpr int kFinalLossSteps = 10;

/// The mean loss of the last `steps` steps that have a finite loss (nullopt when none has): the
/// "final loss" of every table, because one noisy batch decides nothing.
std::optional<double> final_loss_of(const std::vector<StepRecord>& steps, int last = kFinalLossSteps);
/// The last evaluation loss recorded, if any step carries one.
std::optional<double> last_eval_loss_of(const std::vector<StepRecord>& steps);

struct RunSummary {
  RunInfo run;
  std::int64_t steps = 0;
  double first_loss = 0.0;
  double last_loss = 0.0;           // the loss of the last step recorded: one batch, noisy
  double final_loss = 0.0;          // final_loss_of(): mean of the last kFinalLossSteps losses
  std::optional<double> eval_loss;  // the last held-out evaluation, when the run had one
  double median_step_ms = 0.0;
  double tokens_per_s = 0.0;  // from the median step
  double total_s = 0.0;       // sum of step times
  MemorySample peak;          // the peak sample with the largest device total
  std::int64_t peak_device_bytes = 0;
  std::int64_t peak_demand_bytes = 0;  // largest MemorySample::demand(): the fit verdict's figure
  std::int64_t driver_cache_max = 0;   // most device memory the driver held for evicted managed pages
  // Largest |measured - ledger| / ledger of paged residency over the steps, in percent; absent when
  // the residency was not measured (no CUPTI unified-memory counters, or nothing paged).
  std::optional<double> ledger_vs_migrations_pct;
  std::int64_t paged_host_max = 0;  // most paged state seen on the host
  std::int64_t migrated_htod = 0;   // recorded by CUPTI over the run
  std::int64_t migrated_dtoh = 0;
  std::int64_t manager_htod = 0;  // known to the page manager
  std::int64_t manager_dtoh = 0;
  std::int64_t gpu_faults = 0;
  std::string capture_note;
};

/// The largest demand (MemorySample::demand) over the samples, each with the page manager's
/// residency at that moment. The ledger is checked against the migrations: where a step's
/// migrations measured a peak residency above the ledger's largest figure in that step, the excess
/// is added to each of that step's samples, so the fit verdict never rests on less than what moved.
/// (Putting the step's measured peak beside every sample instead combined the optimizer phase's
/// residency with the next backward's allocator growth, two moments the page manager keeps apart.)
/// The one figure behind over_budget, run summaries and ladder verdicts.
std::int64_t peak_demand_bytes(const std::vector<MemorySample>& samples,
                               const std::vector<PagingStep>& paging);

RunSummary summarize_run(const Store& store, const RunInfo& run);
std::vector<RunSummary> summarize_runs(const Store& store, const std::vector<RunInfo>& runs);

/// CSV with a header row; sizes in bytes, times in ms or s as the column names say.
std::string summaries_to_csv(const std::vector<RunSummary>& rows);
/// A Markdown table with sizes in GiB, for reports and docs.
std::string summaries_to_markdown(const std::vector<RunSummary>& rows);

}  // namespace optiscope
