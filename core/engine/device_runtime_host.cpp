#include "engine/device_runtime_host.h"

#include <thread>

#include "probes/cpu_memory_tracker.h"

namespace optiscope::engine::host {

using probes::CpuMemoryTracker;

std::string device_name() {
  return "cpu (" + std::to_string(std::thread::hardware_concurrency()) + " threads)";
}

void reset_peak_memory() {
  CpuMemoryTracker::reset_peak();
}

DeviceMemory memory() {
  DeviceMemory m;
  m.allocated = CpuMemoryTracker::current_bytes();
  m.peak = CpuMemoryTracker::peak_bytes();
  m.reserved = m.allocated;
  m.total = CpuMemoryTracker::budget();
  return m;
}

void set_memory_budget(std::int64_t bytes) {
  CpuMemoryTracker::install();
  CpuMemoryTracker::set_budget(bytes);
}

}  // namespace optiscope::engine::host
