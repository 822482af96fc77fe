#pragma once
// The engine's front door for the apps: run a comparison, one variant after the other, writing
// everything to a store. Free of LibTorch types so the GUI can include it.
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "distributed/launcher.h"
#include "spec/fit_ladder.h"
#include "spec/run_spec.h"
#include "store/records.h"

namespace optiscope {

struct RunProgress {
  int run_index = 0;  // 0-based position of the variant
  int run_count = 0;
  std::string optim;  // the variant, or for a fit ladder the rung's name
  std::int64_t comparison_id = 0;
  std::int64_t run_id = 0;
  std::int64_t step = 0;  // last step written to the store
  std::int64_t total_steps = 0;
  double loss = 0.0;
};

/// Called on the thread that runs the comparison; the store already holds what is reported.
class ComparisonObserver {
 public:
  virtual ~ComparisonObserver() = default;
  virtual void on_run_started(const RunProgress&) {}
  virtual void on_step(const RunProgress&) {}
  virtual void on_run_finished(const RunProgress&, Outcome, const std::string& /*detail*/) {}
};

struct ComparisonResult {
  std::int64_t comparison_id = 0;
  std::vector<std::int64_t> run_ids;
  std::vector<Outcome> outcomes;
  bool cancelled = false;
};

/// Runs every variant of the comparison and records it in the store at store_path (created if
/// needed). An OOM or a failure ends that variant only; cancel ends the comparison after the
/// current step. Throws StoreError/SpecError only for problems that stop every variant.
/// A spec with nproc_per_node > 1 runs each variant over that many rank processes started from
/// `ranks` (the CLI's rank subcommand); without it such a variant fails with a message.
ComparisonResult run_comparison(const ComparisonSpec& spec, const std::string& store_path,
                                ComparisonObserver* observer = nullptr,
                                const std::atomic<bool>* cancel = nullptr,
                                const distributed::RankProgram* ranks = nullptr);

/// Runs every rung of a fit ladder, in order, into one comparison of the store (its spec JSON is
/// the ladder's, so views know the rungs). An OOM ends that rung only: it is a result. With resume,
/// the store's latest ladder of the same spec is continued: rungs with a result (completed, oom,
/// over_budget, failed) are kept and the others recorded again, as after a session cut short.
ComparisonResult run_ladder(const LadderSpec& ladder, const std::string& store_path,
                            ComparisonObserver* observer = nullptr, const std::atomic<bool>* cancel = nullptr,
                            bool resume = false);

/// Text describing where runs execute, e.g. "cpu (2 threads)" or "NVIDIA H100 80GB HBM3".
std::string describe_device(const std::string& device);

}  // namespace optiscope
