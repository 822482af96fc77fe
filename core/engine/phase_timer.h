#pragma once
// Device-side time between marks: CUDA events on a GPU (no synchronisation inside the step), the
// host clock on a CPU. Read once the device has passed the later mark (wait, or a synchronisation).
#include <c10/core/Device.h>

#include <memory>

namespace optiscope::engine {

class PhaseTimer {
 public:
  virtual ~PhaseTimer() = default;
  /// Starts a new step: forgets earlier marks.
  virtual void reset() = 0;
  /// Records a mark on the device's current stream; returns its index.
  virtual int mark() = 0;
  /// Milliseconds between two marks; the device must have passed the later one.
  virtual double elapsed_ms(int from, int to) = 0;
  /// Blocks until the device has passed the mark (and everything queued before it), no further.
  virtual void wait(int mark) = 0;
};

std::unique_ptr<PhaseTimer> make_phase_timer(const c10::Device& device);

}  // namespace optiscope::engine
