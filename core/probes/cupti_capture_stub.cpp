// CuptiCapture for builds without CUPTI (OPTISCOPE_HAVE_CUPTI off): the same interface, so callers
// need no #ifdefs, capturing nothing and saying why.
#include <chrono>

#include "probes/cupti_capture.h"

namespace optiscope::probes {

struct CuptiCapture::Impl {};

namespace {
CaptureCapability unavailable() {
  CaptureCapability c;
  c.note = "built without CUPTI";
  return c;
}
}  // namespace

CuptiCapture::CuptiCapture() = default;
CuptiCapture::~CuptiCapture() = default;

CaptureCapability CuptiCapture::probe() noexcept {
  return unavailable();
}
CaptureCapability CuptiCapture::start(const CaptureOptions&) noexcept {
  return unavailable();
}
void CuptiCapture::flush(bool) noexcept {}
CapturedEvents CuptiCapture::take_events() noexcept {
  return {};
}
void CuptiCapture::stop() noexcept {}
bool CuptiCapture::running() const noexcept {
  return false;
}
CaptureCapability CuptiCapture::capability() const noexcept {
  return unavailable();
}
CaptureStats CuptiCapture::stats() const noexcept {
  return {};
}

std::uint64_t CuptiCapture::now_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

// now_ns() already is the steady clock here.
std::uint64_t CuptiCapture::to_steady_ns(std::uint64_t cupti_ns) const noexcept {
  return cupti_ns;
}
std::int64_t CuptiCapture::cupti_minus_steady_ns() const noexcept {
  return 0;
}

}  // namespace optiscope::probes
