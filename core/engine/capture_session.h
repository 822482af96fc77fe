#pragma once
// CUPTI capture for one run: started on CUDA runs, flushed after every step, its events assigned to
// steps by timestamp and set against the page manager's own counts (capture completeness).
// Capture problems never stop training: they become the run's capture note. The migrations also
// measure how much paged state is resident, checked every step against the page manager's ledger.
#include <c10/core/Device.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "engine/device_runtime.h"
#include "probes/migration_residency.h"
#include "store/records.h"

namespace optiscope::probes {
class CuptiCapture;
}

namespace optiscope::engine {

class CaptureSession {
 public:
  CaptureSession(const c10::Device& device, bool enabled);
  ~CaptureSession();
  CaptureSession(const CaptureSession&) = delete;
  CaptureSession& operator=(const CaptureSession&) = delete;

  CaptureInfo info() const { return info_; }
  void step_started(std::int64_t step);
  /// Call after the step's final synchronisation: collects what was captured into the bundle.
  void step_finished(std::int64_t step, StepBundle& bundle);
  /// Flushes late records into a bundle without a step row, and stops capturing.
  StepBundle finish();

 private:
  void collect(StepBundle& bundle);
  /// Flushes until the migrations recorded for `step` cover what the page manager moved, or a
  /// quarter of a second has passed: CUPTI delivers unified-memory records from its own thread,
  /// after the copies ended, and the step's residency is only measured once they are in.
  void settle(std::int64_t step, StepBundle& bundle);
  bool measures_residency() const { return capture_ != nullptr && info_.um_counters; }
  std::int64_t relative_ns(std::uint64_t steady_ns) const;

  c10::Device device_;
  std::unique_ptr<probes::CuptiCapture> capture_;
  CaptureInfo info_;
  std::uint64_t run_start_ns_ = 0;
  std::vector<std::uint64_t> boundaries_;  // steady ns: start of step 1, 2, ..., then end of the last
  std::int64_t first_step_ = 1;
  std::map<std::int64_t, PagingStep> paging_;
  PagingTotals last_totals_;
  probes::MigrationResidency residency_;
};

}  // namespace optiscope::engine
