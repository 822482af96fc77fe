// device_runtime for CUDA builds: memory from LibTorch's caching allocator, a budget through its
// memory fraction (real OOMs where a smaller card would have them) and the page manager.
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>
#include <optional>

#include "engine/device_runtime.h"
#include "engine/device_runtime_host.h"
#include "optim/page_manager.h"
#include "probes/nvml_memory.h"

namespace optiscope::engine {
namespace {

using Stat = c10::CachingAllocator::StatType;

int index_of(const c10::Device& d) {
  return d.has_index() ? d.index() : 0;
}

std::int64_t total_memory(int device) {
  size_t free_b = 0;
  size_t total_b = 0;
  cudaSetDevice(device);
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) return 0;
  return static_cast<std::int64_t>(total_b);
}

std::int64_t g_budget[64] = {};
ContextMemory g_context[64] = {};

std::int64_t reserved_now(int device) {
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device));
  return stats.reserved_bytes[static_cast<std::size_t>(Stat::AGGREGATE)].current;
}

std::optional<std::int64_t> nvml_used(int device) {
  char bus_id[32] = {};
  if (cudaDeviceGetPCIBusId(bus_id, sizeof bus_id, device) != cudaSuccess) return std::nullopt;
  return probes::nvml_used_bytes(bus_id);
}

// LibTorch initialises its CUDA allocator lazily, on the first CUDA tensor; its statistics and
// memory-fraction calls throw before that. The context is made here too, so this is where its size
// is measured: NVML's used figure just before and just after.
void ensure_initialised(int device) {
  static bool done[64] = {};
  if (done[device]) return;
  const auto before = nvml_used(device);
  (void)torch::empty({1}, torch::TensorOptions().device(torch::kCUDA, static_cast<c10::DeviceIndex>(device)));
  torch::cuda::synchronize(static_cast<c10::DeviceIndex>(device));
  const auto after = nvml_used(device);
  ContextMemory& c = g_context[device];
  if (before && after && *after > *before) {
    c = {std::max<std::int64_t>(0, *after - *before - reserved_now(device)), true};
  } else {
    size_t free_b = 0;
    size_t total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess)
      c = {std::max<std::int64_t>(0, static_cast<std::int64_t>(total_b - free_b) - reserved_now(device)),
           false};
  }
  done[device] = true;
}

}  // namespace

bool device_available(const c10::Device& device) {
  if (device.is_cpu()) return true;
  return device.is_cuda() && torch::cuda::is_available() &&
         index_of(device) < static_cast<int>(torch::cuda::device_count());
}

std::string device_name(const c10::Device& device) {
  if (device.is_cpu()) return host::device_name();
  if (!device_available(device)) return device.str() + " (no such CUDA device)";
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, index_of(device));
  return std::string(prop.name) + " (" + std::to_string(prop.totalGlobalMem >> 30) + " GiB)";
}

std::int64_t free_device_memory(const c10::Device& device) {
  if (!device.is_cuda() || !device_available(device)) return 0;
  // The memory preflight asks this before any run: cudaSetDevice would make the context here, and
  // ensure_initialised, called later, would then find it made and measure 0 bytes of context
  // (recorded so on the H200, 2026-12-04). Making it through ensure_initialised measures it.
  ensure_initialised(index_of(device));
  size_t free_b = 0;
  size_t total_b = 0;
  cudaSetDevice(index_of(device));
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) return 0;
  return static_cast<std::int64_t>(free_b);
}

void synchronize(const c10::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(index_of(device));
}

void reset_peak_memory(const c10::Device& device) {
  if (device.is_cpu()) return host::reset_peak_memory();
  ensure_initialised(index_of(device));
  c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(index_of(device)));
}

DeviceMemory memory(const c10::Device& device) {
  if (device.is_cpu()) return host::memory();
  DeviceMemory m;
  const int i = index_of(device);
  ensure_initialised(i);
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(i));
  const auto agg = static_cast<std::size_t>(Stat::AGGREGATE);
  m.allocated = stats.allocated_bytes[agg].current;
  m.peak = stats.allocated_bytes[agg].peak;
  m.reserved = stats.reserved_bytes[agg].current;
  m.total = g_budget[i] > 0 ? g_budget[i] : total_memory(i);
  size_t free_b = 0;
  size_t total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess)
    m.driver_used = static_cast<std::int64_t>(total_b - free_b);
  return m;
}

PagingTotals paging(const c10::Device& device) {
  if (!device.is_cuda()) return {};
  const auto c = optim::PageManager::for_device(index_of(device)).counters();
  return {c.managed_bytes, c.resident_bytes, c.ever_resident_bytes, c.prefetched_to_device,
          c.evicted_to_host};
}

std::vector<ManagedAllocation> managed_allocations(const c10::Device& device) {
  if (!device.is_cuda()) return {};
  std::vector<ManagedAllocation> out;
  for (const auto& r : optim::PageManager::for_device(index_of(device)).ranges())
    out.push_back({r.address, r.bytes, r.resident});
  return out;
}

ContextMemory context_memory(const c10::Device& device) {
  if (!device.is_cuda()) return {};
  ensure_initialised(index_of(device));
  return g_context[index_of(device)];
}

void set_memory_budget(const c10::Device& device, std::int64_t bytes) {
  if (device.is_cpu()) return host::set_memory_budget(bytes);
  const int i = index_of(device);
  ensure_initialised(i);
  // Each run starts from an empty cache: blocks cached by the previous variant of a comparison
  // would otherwise count as this variant's allocator cache and distort its memory figures.
  c10::cuda::CUDACachingAllocator::emptyCache();
  c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(i));
  g_budget[i] = bytes;
  // A card of `bytes` holds the context too: the allocator and paged state share what is left.
  const std::int64_t usable = bytes > 0 ? std::max<std::int64_t>(1, bytes - g_context[i].bytes) : 0;
  const std::int64_t total = total_memory(i);
  const double fraction =
      usable > 0 && total > 0 ? std::min(1.0, static_cast<double>(usable) / static_cast<double>(total)) : 1.0;
  c10::cuda::CUDACachingAllocator::setMemoryFraction(fraction, static_cast<c10::DeviceIndex>(i));
  optim::PageManager::for_device(i).set_budget(usable);
}

}  // namespace optiscope::engine
