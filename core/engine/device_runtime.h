#pragma once
// What the training loop needs to know about the device it runs on, with one implementation for
// CPU-only builds and one for CUDA builds, so the loop itself has no #ifdefs.
#include <c10/core/Device.h>

#include <cstdint>
#include <string>
#include <vector>

namespace optiscope::engine {

struct DeviceMemory {
  std::int64_t allocated = 0;    // bytes handed out by the allocator now
  std::int64_t peak = 0;         // most handed out since the last reset
  std::int64_t reserved = 0;     // held by the caching allocator (allocated + cache)
  std::int64_t total = 0;        // the device's (or budget's) capacity, 0 if unknown
  std::int64_t driver_used = 0;  // device memory in use by anyone, per the driver (CUDA only)
};

/// The page manager's view of paged optimizer state on this device (zeros on a CPU).
struct PagingTotals {
  std::int64_t managed = 0;
  std::int64_t resident = 0;
  std::int64_t ever_resident = 0;  // managed bytes that have been on the device at some time
  std::int64_t htod = 0;           // cumulative bytes it prefetched to the device
  std::int64_t dtoh = 0;           // cumulative bytes it evicted to the host
};

/// This process's CUDA context and libraries on the device: NVML's used figure before the context
/// was made against after (measured == true), or, where NVML cannot answer, the driver's used figure
/// after it less LibTorch's reservation (an estimate: it includes other processes). 0 on a CPU.
struct ContextMemory {
  std::int64_t bytes = 0;
  bool measured = false;
};

/// One paged allocation as the page manager's ledger has it.
struct ManagedAllocation {
  std::uint64_t address = 0;
  std::uint64_t bytes = 0;
  bool resident = false;
};

bool device_available(const c10::Device& device);
std::string device_name(const c10::Device& device);
void synchronize(const c10::Device& device);
void reset_peak_memory(const c10::Device& device);
DeviceMemory memory(const c10::Device& device);
PagingTotals paging(const c10::Device& device);
std::vector<ManagedAllocation> managed_allocations(const c10::Device& device);
ContextMemory context_memory(const c10::Device& device);
/// Device memory free now per the driver (cudaMemGetInfo), whatever the budget; 0 on a CPU or
/// when unknown.
std::int64_t free_device_memory(const c10::Device& device);
/// Caps what the allocator may hand out (0 = no cap): the emulated smaller card.
void set_memory_budget(const c10::Device& device, std::int64_t bytes);

}  // namespace optiscope::engine
