#pragma once
// Records unified-memory migrations, kernels and memcpys with CUPTI while a training run goes on.
// A profiler must never be the reason a run stops: every CUPTI/CUDA failure becomes a note in the
// CaptureCapability, and no member function lets an exception escape.
//
// CUPTI's buffer callbacks are process-wide, so at most one CuptiCapture is running per process;
// a second start() reports that in its note instead of capturing.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "probes/cupti_records.h"

namespace optiscope::probes {

struct CaptureOptions {
  bool unified_memory = true;
  bool kernels = true;
  bool memcpy = true;
  std::size_t buffer_bytes = std::size_t{8} << 20;  // per CUPTI activity buffer (CUPTI suggests 1-10 MB)
  // Raw buffers held until take_events() decodes them. Past this CUPTI is refused buffers and drops
  // records, which shows in CaptureStats rather than in the training process's memory.
  std::size_t max_buffered_bytes = std::size_t{512} << 20;
  // stop() flushes, waits this long, and flushes again: unified-memory records come from a
  // separate CUPTI thread after the copy finished and can miss the first flush.
  std::chrono::milliseconds stop_settle{50};
};

class CuptiCapture {
 public:
  CuptiCapture();
  ~CuptiCapture();  // stops a running capture
  CuptiCapture(const CuptiCapture&) = delete;
  CuptiCapture& operator=(const CuptiCapture&) = delete;

  /// What start() could switch on here, without starting (creates no CUDA context). The note says
  /// why a part is missing; "another CUPTI client" conflicts are detected here when possible.
  static CaptureCapability probe() noexcept;

  /// Claims CUPTI, creates the CUDA context on the calling thread's current device if needed
  /// (unified-memory counters cannot be enabled before one exists) and enables the requested kinds.
  /// Call before the optimizer allocates managed memory so the first migrations are recorded.
  CaptureCapability start(const CaptureOptions& options = {}) noexcept;

  /// Makes records of finished work available to take_events(): optionally synchronizes the device
  /// (a forced flush of in-flight work would hand back kernels with end = 0 that CUPTI never
  /// re-delivers), then cuptiActivityFlushAll(FORCED), then reads the dropped-record counter.
  /// Unified-memory records may still arrive in a later flush; assign them to steps by timestamp.
  void flush(bool synchronize_device = true) noexcept;

  /// Events decoded since the last call. Safe to call from any thread, also after stop().
  CapturedEvents take_events() noexcept;

  /// Synchronizes, flushes (twice, see stop_settle), disables the kinds and releases CUPTI.
  /// Events still pending stay available to take_events().
  void stop() noexcept;

  bool running() const noexcept;
  /// The capability of the current or last session (all false before the first start()).
  CaptureCapability capability() const noexcept;
  CaptureStats stats() const noexcept;

  /// Now on the clock of CUPTI's timestamps (CLOCK_REALTIME on Linux by default); use it for step
  /// boundaries so that records and steps compare without conversion. Steady clock when built
  /// without CUPTI.
  static std::uint64_t now_ns() noexcept;

  /// CUPTI timestamp -> std::chrono::steady_clock nanoseconds since its epoch, through an offset
  /// measured when this object was made and again at start(). Off by the realtime clock's
  /// adjustments (NTP) since then; fine for placing events on a step timeline.
  std::uint64_t to_steady_ns(std::uint64_t cupti_ns) const noexcept;
  /// The measured offset: cupti_ns - steady_ns.
  std::int64_t cupti_minus_steady_ns() const noexcept;

  struct Impl;  // public only so the CUPTI callbacks in the .cpp can reach it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace optiscope::probes
