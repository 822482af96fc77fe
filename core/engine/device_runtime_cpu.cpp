// device_runtime for builds without CUDA: CPU only (device_runtime_host.cpp).
#include "engine/device_runtime.h"
#include "engine/device_runtime_host.h"

namespace optiscope::engine {

bool device_available(const c10::Device& device) {
  return device.is_cpu();
}

std::string device_name(const c10::Device& device) {
  if (!device.is_cpu()) return device.str() + " (not available in this build)";
  return host::device_name();
}

void synchronize(const c10::Device&) {}

void reset_peak_memory(const c10::Device&) {
  host::reset_peak_memory();
}

DeviceMemory memory(const c10::Device&) {
  return host::memory();
}

PagingTotals paging(const c10::Device&) {
  return {};
}

std::vector<ManagedAllocation> managed_allocations(const c10::Device&) {
  return {};
}

ContextMemory context_memory(const c10::Device&) {
  return {};
}

std::int64_t free_device_memory(const c10::Device&) {
  return 0;
}

void set_memory_budget(const c10::Device&, std::int64_t bytes) {
  host::set_memory_budget(bytes);
}

}  // namespace optiscope::engine
