#pragma once
// The CPU side of device_runtime, shared by the CPU-only and the CUDA builds: whichever build
// runs it, a CPU run's memory comes from the counting allocator.
#include <cstdint>
#include <string>

#include "engine/device_runtime.h"

namespace optiscope::engine::host {

std::string device_name();
void reset_peak_memory();
DeviceMemory memory();
void set_memory_budget(std::int64_t bytes);

}  // namespace optiscope::engine::host
