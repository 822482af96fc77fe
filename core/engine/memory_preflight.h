#pragma once
// Refuses, before anything is written, a run whose model cannot fit this machine at all: the
// memory calculator's estimate (core/estimate) against the host memory that is free now and, on a
// GPU, the device memory that is free now. Without it, a model far larger than the host is killed by
// the kernel's OOM killer, with no message and no outcome in the store.
//
// What is refused is what no run could survive: on the host, everything a CPU run keeps (weights,
// gradients, optimizer state, activations) or, for a GPU run, the fp32 model the engine builds on
// the host before moving it; on the device, the weights themselves. A model that loads but does not
// fit a device budget still runs and ends `oom` at its step: that is a result to show, as in the
// article's charts, not bad input.
#include <cstdint>
#include <string>

#include "spec/run_spec.h"

namespace optiscope::engine {

struct MemoryCheck {
  std::int64_t host_needed = 0;
  std::int64_t host_free = 0;  // 0: unknown (not checked)
  std::int64_t device_needed = 0;
  std::int64_t device_free = 0;  // 0: unknown or a CPU run (not checked)
  std::string estimate_text;     // "8.19 G params: weights 30.5 GiB, gradients 30.5 GiB, ..."
  /// Empty when the run may start; otherwise the reason, fit for a user.
  std::string refusal;
};

/// The check for one run; a sequence longer than the model's positions is refused here too. Specs
/// whose model cannot be resolved here (no such preset, an unreadable
/// config.json) pass: the engine reports those itself, with the file and the problem.
MemoryCheck check_memory(const RunSpec& spec);
/// Throws SpecError with check_memory(spec).refusal when there is one.
void refuse_if_model_cannot_fit(const RunSpec& spec);
/// What check_memory refuses from the spec and the model's geometry alone, touching no device (a
/// sequence longer than the model's positions); empty when nothing. A sweep checks its GPU runs with
/// it before starting workers: measuring a device's free memory would make a CUDA context there.
std::string refusal_without_device(const RunSpec& spec);
/// MemAvailable from /proc/meminfo, in bytes; 0 when unknown.
std::int64_t available_host_memory();

}  // namespace optiscope::engine
