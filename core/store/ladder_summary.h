#pragma once
// What each rung of a recorded fit ladder shows: its measured peak demand by category, whether it
// fits the budget, its median step time and its loss. Computed from the store alone, so the CLI's
// JSON, the GUI's chart and the report agree.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "spec/fit_ladder.h"
#include "store/records.h"
#include "store/run_summary.h"
#include "store/store.h"

namespace optiscope {

/// The run's measured device demand at its worst moment: the sample with the largest
/// MemorySample::demand() (what the allocator reserved, the paged state resident on the device and
/// the context; not the reclaimable driver cache, not what nothing explains). The one place that
/// defines demand for the ladder's charts and figures.
std::optional<MemorySample> peak_demand(const std::vector<MemorySample>& samples);
std::int64_t demand_bytes(const MemorySample& sample);

/// fits: completed with its peak demand within the budget; over_budget: completed, but its
/// measured demand went past the budget (the run's own over_budget outcome, which the trainer
/// decides with the residency measured from the migrations, or a recorded sample above the
/// budget): a real card of that size would have failed; otherwise the run's own outcome.
enum class RungVerdict { fits, over_budget, oom, failed, cancelled, interrupted, running };
std::string to_string(RungVerdict v);
RungVerdict rung_verdict(Outcome outcome, std::int64_t peak_demand_bytes, std::uint64_t budget_bytes);
/// A rung recorded again (optiscope-cli ladder --resume) supersedes its earlier attempt: true when
/// `comparison_runs` (the runs of run's comparison) holds a later run of the same ordinal. Views
/// show the latest attempt as the rung.
bool superseded(const RunInfo& run, const std::vector<RunInfo>& comparison_runs);

struct RungSummary {
  std::string rung;  // the rung's name: what it adds
  RunSpec spec;      // the rung's spec as the ladder recorded it
  RunSummary run;
  RungVerdict verdict = RungVerdict::running;
  std::optional<MemorySample> peak;  // the peak-demand sample
  std::int64_t peak_demand = 0;
  std::optional<double> loss_after;  // the loss at step `loss_step`, when the run got there
  std::int64_t loss_step = 0;
};

struct LadderSummary {
  ComparisonInfo comparison;
  LadderSpec spec;
  std::vector<RungSummary> rungs;
};

/// Every ladder in the store, oldest first. loss_step: the step whose loss is reported (0 = each
/// rung's last step).
std::vector<LadderSummary> summarize_ladders(const Store& store, std::int64_t loss_step = 0);

/// The ladders as JSON (bench/results/fit_ladder.json's per-ladder objects): rung, outcome, peak
/// demand by category, median step ms, loss after N steps.
std::string ladders_to_json(const std::vector<LadderSummary>& ladders);

}  // namespace optiscope
