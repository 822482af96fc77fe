#include "engine/capture_session.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "probes/cupti_capture.h"
#include "probes/cupti_records.h"

namespace optiscope::engine {
namespace {

std::uint64_t steady_now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

}  // namespace

CaptureSession::CaptureSession(const c10::Device& device, bool enabled) : device_(device) {
  run_start_ns_ = steady_now_ns();
  last_totals_ = paging(device_);
  if (!device.is_cuda()) {
    info_.note = "CPU run: unified-memory paging does not apply, nothing to capture";
    return;
  }
  if (!enabled) {
    info_.note = "capture switched off for this run";
    return;
  }
  capture_ = std::make_unique<probes::CuptiCapture>();
  const auto cap = capture_->start();
  info_.um_counters = cap.um_counters;
  info_.kernels = cap.kernels;
  info_.memcpy = cap.memcpy;
  info_.note = cap.note;
  if (!capture_->running()) capture_.reset();
}

CaptureSession::~CaptureSession() {
  if (capture_) capture_->stop();
}

std::int64_t CaptureSession::relative_ns(std::uint64_t steady_ns) const {
  return static_cast<std::int64_t>(steady_ns) - static_cast<std::int64_t>(run_start_ns_);
}

void CaptureSession::step_started(std::int64_t step) {
  residency_.reset_peak();
  if (boundaries_.empty()) first_step_ = step;
  // The previous step's end and this one's start are the same boundary.
  const std::uint64_t now = steady_now_ns();
  if (boundaries_.size() > static_cast<std::size_t>(step - first_step_)) {
    boundaries_.back() = now;
  } else {
    boundaries_.push_back(now);
  }
}

void CaptureSession::step_finished(std::int64_t step, StepBundle& bundle) {
  boundaries_.push_back(steady_now_ns());  // provisional end; the next start replaces it
  const PagingTotals now = paging(device_);
  PagingStep& p = paging_[step];
  p.step = step;
  p.manager_htod = now.htod - last_totals_.htod;
  p.manager_dtoh = now.dtoh - last_totals_.dtoh;
  last_totals_ = now;
  if (capture_) capture_->flush(/*synchronize_device=*/false);  // the trainer has just synchronised
  collect(bundle);
  settle(step, bundle);
  PagingStep& done = paging_[step];
  done.ledger_resident = now.resident;
  if (measures_residency()) {
    done.measured_resident = residency_.resident();
    done.measured_resident_peak = residency_.peak();
    std::map<std::uint64_t, std::int64_t> ledger;
    for (const auto& a : managed_allocations(device_))
      ledger[a.address] = a.resident ? static_cast<std::int64_t>(a.bytes) : 0;
    done.disagreeing_allocations = residency_.disagreeing(ledger);
  }
  if (now.managed > 0 || done.recorded_htod + done.recorded_dtoh > 0) bundle.paging.push_back(done);
}

void CaptureSession::settle(std::int64_t step, StepBundle& bundle) {
  if (!measures_residency()) return;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(250);
  for (;;) {
    const PagingStep& p = paging_[step];
    if (p.recorded_htod >= p.manager_htod && p.recorded_dtoh >= p.manager_dtoh) return;
    if (std::chrono::steady_clock::now() >= deadline) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    capture_->flush(/*synchronize_device=*/false);
    collect(bundle);
  }
}

void CaptureSession::collect(StepBundle& bundle) {
  if (!capture_) return;
  auto events = capture_->take_events();
  // In the order they happened: CUPTI hands a buffer's records over as they were written, and an
  // eviction's record can come after the prefetch that followed it, which would count both resident
  // at once and overstate the step's peak residency.
  std::stable_sort(events.unified_memory.begin(), events.unified_memory.end(),
                   [](const auto& a, const auto& b) { return a.start_ns < b.start_ns; });
  std::vector<std::uint64_t> bounds = boundaries_;
  std::vector<probes::ManagedRange> ranges;
  for (const auto& a : managed_allocations(device_)) ranges.push_back({a.address, a.bytes});
  residency_.set_ranges(ranges);
  auto step_for = [&](std::uint64_t cupti_ns) -> std::int64_t {
    const auto s = probes::step_of(capture_->to_steady_ns(cupti_ns), bounds);
    return s == probes::kNoStep ? -1 : s + first_step_;
  };
  std::map<std::int64_t, bool> touched;
  for (const auto& e : events.unified_memory) {
    const std::int64_t step = step_for(e.start_ns);
    bundle.um_events.push_back({step, static_cast<int>(e.kind), static_cast<int>(e.cause),
                                relative_ns(capture_->to_steady_ns(e.start_ns)),
                                relative_ns(capture_->to_steady_ns(e.end_ns > 0 ? e.end_ns : e.start_ns)),
                                static_cast<std::int64_t>(e.value), static_cast<std::int64_t>(e.address)});
    if (e.kind == probes::UmEventKind::bytes_htod || e.kind == probes::UmEventKind::bytes_dtoh)
      residency_.apply({e.address, e.value, e.kind == probes::UmEventKind::bytes_htod});
    if (step < 0) continue;
    PagingStep& p = paging_[step];
    p.step = step;
    switch (e.kind) {
      case probes::UmEventKind::bytes_htod:
        p.recorded_htod += static_cast<std::int64_t>(e.value);
        break;
      case probes::UmEventKind::bytes_dtoh:
        p.recorded_dtoh += static_cast<std::int64_t>(e.value);
        break;
      case probes::UmEventKind::gpu_page_fault_group:
        p.gpu_faults += static_cast<std::int64_t>(e.value);
        break;
      case probes::UmEventKind::cpu_page_fault:
        p.cpu_faults += 1;
        break;
      case probes::UmEventKind::thrashing:
        p.thrashing += 1;
        break;
      case probes::UmEventKind::throttling:
        p.throttling += 1;
        break;
      default:
        break;
    }
    touched[step] = true;
  }
  for (const auto& k : events.kernels) {
    bundle.kernels.push_back({step_for(k.start_ns), k.name, relative_ns(capture_->to_steady_ns(k.start_ns)),
                              relative_ns(capture_->to_steady_ns(k.end_ns)),
                              static_cast<std::int64_t>(k.stream_id)});
  }
  for (const auto& c : events.memcpys) {
    bundle.memcpys.push_back(
        {step_for(c.start_ns), static_cast<int>(c.kind), static_cast<std::int64_t>(c.bytes),
         relative_ns(capture_->to_steady_ns(c.start_ns)), relative_ns(capture_->to_steady_ns(c.end_ns))});
  }
  // Late records rewrite the paging rows of the steps they belong to.
  const std::int64_t current = bundle.step ? bundle.step->step : -1;
  for (const auto& [step, unused] : touched) {
    (void)unused;
    if (step != current) bundle.paging.push_back(paging_[step]);
  }
  const auto stats = capture_->stats();
  info_.dropped_records = static_cast<std::int64_t>(stats.dropped_records);
}

StepBundle CaptureSession::finish() {
  StepBundle late;
  if (!capture_) return late;
  capture_->stop();
  collect(late);
  capture_.reset();
  return late;
}

}  // namespace optiscope::engine
