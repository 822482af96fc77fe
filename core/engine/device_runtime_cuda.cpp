// device_runtime for CUDA builds: memory from LibTorch's caching allocator, a budget through its
// memory fraction (real OOMs where a smaller card would have them) and the page manager.
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>

#include "engine/device_runtime.h"
#include "engine/device_runtime_host.h"
#include "optim/page_manager.h"

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

// LibTorch initialises its CUDA allocator lazily, on the first CUDA tensor; its statistics and
// memory-fraction calls throw before that.
void ensure_initialised(int device) {
  static bool done[64] = {};
  if (done[device]) return;
  (void)torch::empty({1}, torch::TensorOptions().device(torch::kCUDA, static_cast<c10::DeviceIndex>(device)));
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
  return {c.managed_bytes, c.resident_bytes, c.prefetched_to_device, c.evicted_to_host};
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
  const std::int64_t total = total_memory(i);
  const double fraction =
      bytes > 0 && total > 0 ? std::min(1.0, static_cast<double>(bytes) / static_cast<double>(total)) : 1.0;
  c10::cuda::CUDACachingAllocator::setMemoryFraction(fraction, static_cast<c10::DeviceIndex>(i));
  optim::PageManager::for_device(i).set_budget(bytes);
}

}  // namespace optiscope::engine
