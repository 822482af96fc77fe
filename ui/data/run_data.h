#pragma once
// What the chart tabs draw for one run, read from the store once and then only what is new.
// Steps are read for every checked run; memory and paging rows only when a tab that draws them
// is shown (a store with 100 k steps per run opens on its first chart without reading those).
#include <cstdint>
#include <optional>
#include <vector>

#include <QString>

#include "charts/chart_series.h"
#include "store/records.h"

namespace optiscope {
class Store;
}

namespace optiscope::ui {

/// Transfers or faults of one kind and cause, summed over a run (from um_events).
struct UmCauseCount {
  int kind = 0;
  int cause = 0;
  std::int64_t events = 0;
  std::int64_t value = 0;  // bytes for transfers, a count for faults
};

struct RunData {
  RunInfo info;
  ChartSeries look;
  std::int64_t budget_bytes = 0;  // the spec's device_budget_bytes, 0 when the whole device
  // For a run of a fit ladder: the rung's name (what it adds) and its position; empty otherwise.
  QString rung;
  int rungIndex = -1;
  std::vector<StepRecord> steps;
  // Per step, the sample with the most device memory (peak points preferred over phase ends).
  std::vector<MemorySample> memory;
  // A run over several ranks (world_size > 1): `memory` is rank 0's; these are ranks 1 to N-1's,
  // reduced the same way (index 0 holds rank 1).
  std::vector<std::vector<MemorySample>> otherRanksMemory;
  int rank = 0;  // which rank's memory `memory` is (rankView)
  std::vector<PagingStep> paging;
  std::optional<CaptureInfo> capture;
  std::vector<UmCauseCount> causes;
  bool memory_loaded = false;
  bool paging_loaded = false;

  /// The sample with the most device memory over the whole run, if any.
  const MemorySample* peak() const;
  /// One rank's view of this run: its memory in place of rank 0's, " · rank r" after the label.
  /// Rank 0 (or a one-process run) is the run itself.
  RunData rankView(int which) const;
};

class RunDataCache {
 public:
  enum Need : unsigned { kSteps = 1, kMemory = 2, kPaging = 4 };

  void setStore(const Store* store);
  /// Follows the checked runs: known runs keep their rows, their run info (outcome) is replaced.
  void setRuns(const std::vector<RunInfo>& runs);
  /// Reads the rows written since the last call for the needs given; true when anything grew.
  bool refresh(unsigned needs);
  const std::vector<RunData>& runs() const { return runs_; }

 private:
  bool readSteps(RunData& run);
  bool readMemory(RunData& run);
  bool readPaging(RunData& run);

  const Store* store_ = nullptr;
  std::vector<RunData> runs_;
};

}  // namespace optiscope::ui
