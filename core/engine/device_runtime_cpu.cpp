// device_runtime for builds without CUDA: CPU only, memory from the counting allocator.
#include <thread>

#include "engine/device_runtime.h"
#include "probes/cpu_memory_tracker.h"

namespace optiscope::engine {

using probes::CpuMemoryTracker;

bool device_available(const c10::Device& device) { return device.is_cpu(); }

std::string device_name(const c10::Device& device) {
  if (!device.is_cpu()) return device.str() + " (not available in this build)";
  return "cpu (" + std::to_string(std::thread::hardware_concurrency()) + " threads)";
}

void synchronize(const c10::Device&) {}

void reset_peak_memory(const c10::Device&) { CpuMemoryTracker::reset_peak(); }

DeviceMemory memory(const c10::Device&) {
  DeviceMemory m;
  m.allocated = CpuMemoryTracker::current_bytes();
  m.peak = CpuMemoryTracker::peak_bytes();
  m.reserved = m.allocated;
  m.total = CpuMemoryTracker::budget();
  return m;
}

PagingTotals paging(const c10::Device&) { return {}; }

void set_memory_budget(const c10::Device&, std::int64_t bytes) {
  CpuMemoryTracker::install();
  CpuMemoryTracker::set_budget(bytes);
}

}  // namespace optiscope::engine
