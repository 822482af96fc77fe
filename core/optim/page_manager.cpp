#include "optim/page_manager.h"

#include <ATen/Context.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace optiscope::optim {
namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

cudaMemLocation location_of(int device) {
  cudaMemLocation loc{};
  if (device < 0) {
    loc.type = cudaMemLocationTypeHost;
    loc.id = 0;
  } else {
    loc.type = cudaMemLocationTypeDevice;
    loc.id = device;
  }
  return loc;
}

bool concurrent_managed_access(int device) {
  int v = 0;
  cudaDeviceGetAttribute(&v, cudaDevAttrConcurrentManagedAccess, device);
  return v != 0;
}

// Zero-fills managed memory from the host, a few threads at a time: pages are then populated in
// host memory (CPU page faults, no migration), so every byte that later reaches the device comes
// through a recorded prefetch. One thread touches about 2-4 GB/s of fresh managed pages.
void zero_on_host(void* ptr, std::size_t bytes) {
  const std::size_t threads =
      std::clamp<std::size_t>(bytes >> 30, 1, std::max(1U, std::thread::hardware_concurrency()));
  const std::size_t chunk = (bytes / threads + 4095) & ~std::size_t{4095};
  std::vector<std::thread> workers;
  for (std::size_t t = 0; t < threads; ++t) {
    const std::size_t begin = t * chunk;
    if (begin >= bytes) break;
    const std::size_t n = std::min(chunk, bytes - begin);
    workers.emplace_back([p = static_cast<char*>(ptr) + begin, n] { std::memset(p, 0, n); });
  }
  for (auto& w : workers) w.join();
}

// What LibTorch's caching allocator holds on the device. Never called with a manager's lock held:
// the allocator's hook takes that lock while holding the allocator's own.
std::int64_t allocator_reserved_now(int device) {
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device));
  return stats.reserved_bytes[static_cast<std::size_t>(c10::CachingAllocator::StatType::AGGREGATE)].current;
}

// One hook for the process (the allocator cannot detach one), handing each segment's growth to the
// manager of its device.
void attach_allocator_hook() {
  static std::once_flag once;
  std::call_once(once, [] {
    using Entry = c10::CachingDeviceAllocator::TraceEntry;
    c10::cuda::CUDACachingAllocator::attachAllocatorTraceTracker([](const Entry& e) {
      std::int64_t grows = 0;
      if (e.action_ == Entry::SEGMENT_ALLOC || e.action_ == Entry::SEGMENT_MAP)
        grows = static_cast<std::int64_t>(e.size_);
      else if (e.action_ == Entry::SEGMENT_FREE || e.action_ == Entry::SEGMENT_UNMAP)
        grows = -static_cast<std::int64_t>(e.size_);
      if (grows != 0) PageManager::for_device(e.device_).on_allocator_segment(grows, e.stream_);
    });
  });
}

}  // namespace

PageManager& PageManager::for_device(int device) {
  static std::mutex mutex;
  static std::map<int, std::unique_ptr<PageManager>> managers;
  std::lock_guard<std::mutex> lock(mutex);
  auto& m = managers[device];
  if (!m) m.reset(new PageManager(device));
  return *m;
}

void PageManager::set_budget(std::int64_t bytes) {
  std::int64_t reserved = 0;
  if (bytes > 0) {
    // The hook is attached to the allocators that exist, so LibTorch's CUDA state must be made first.
    at::globalContext().lazyInitDevice(c10::DeviceType::CUDA);
    attach_allocator_hook();
    reserved = allocator_reserved_now(device_);
  }
  std::lock_guard lock(mutex_);
  budget_ = bytes;
  allocator_reserved_ = reserved;
}

PagingCounters PageManager::counters() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

void PageManager::on_allocator_segment(std::int64_t grows, void* stream) {
  std::lock_guard lock(mutex_);
  allocator_reserved_ = std::max<std::int64_t>(0, allocator_reserved_ + grows);
  if (budget_ > 0 && grows > 0) evict_until_fits(0, resident_limit(), stream);
}

void* PageManager::allocate(std::size_t bytes, void* stream) {
  size_t free_bytes = 0;
  size_t total_bytes = 0;
  check(cudaSetDevice(device_), "cudaSetDevice");
  const std::int64_t reserved = budget_ > 0 ? allocator_reserved_now(device_) : 0;
  std::lock_guard lock(mutex_);
  allocator_reserved_ = reserved;
  check(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
  // What LibTorch's allocator may still claim under the budget: the same room paged state may use.
  refuse_oversubscription(bytes, free_bytes, static_cast<std::size_t>(resident_limit()));
  void* ptr = nullptr;
  check(cudaMallocManaged(&ptr, bytes, cudaMemAttachHost), "cudaMallocManaged");
  zero_on_host(ptr, bytes);
  Block block{ptr, bytes, false};
  counters_.managed_bytes += static_cast<std::int64_t>(bytes);
  // Under a budget nothing is made resident here: state is allocated before the first forward pass,
  // when the allocator has not yet reserved what the activations need, so room judged now would be
  // taken back by the forward pass (first touching on the device let the 8B paged 32-bit state reach
  // 59.8 GiB under a 40 GiB budget, H200 2026-12-04; making it resident here by the room left then
  // put a 1B run 0.6 GiB over its budget in its first forward pass). prefetch_for_use makes room
  // in the optimizer phase, when the allocator holds what the step needs. Without a budget the state
  // goes to the device at once, as bitsandbytes' device-side fill leaves it.
  if (budget_ <= 0 && concurrent_managed_access(device_)) make_resident(block, stream);
  lru_.push_front(block);
  return ptr;
}

std::vector<PageManager::Range> PageManager::ranges() const {
  std::lock_guard lock(mutex_);
  std::vector<Range> out;
  out.reserve(lru_.size());
  for (const auto& b : lru_) out.push_back({reinterpret_cast<std::uint64_t>(b.ptr), b.bytes, b.resident});
  return out;
}

void PageManager::make_resident(Block& block, void* stream) {
  check(cudaMemPrefetchAsync(block.ptr, block.bytes, location_of(device_), 0,
                             static_cast<cudaStream_t>(stream)),
        "cudaMemPrefetchAsync");
  block.resident = true;
  counters_.resident_bytes += static_cast<std::int64_t>(block.bytes);
  counters_.prefetched_to_device += static_cast<std::int64_t>(block.bytes);
  mark_ever_resident(block);
}

void PageManager::mark_ever_resident(Block& block) {
  if (block.was_resident) return;
  block.was_resident = true;
  counters_.ever_resident_bytes += static_cast<std::int64_t>(block.bytes);
}

void PageManager::release(void* ptr) {
  std::lock_guard lock(mutex_);
  auto it = find(ptr);
  if (it == lru_.end()) return;
  if (in_use_ == ptr) in_use_ = nullptr;
  counters_.managed_bytes -= static_cast<std::int64_t>(it->bytes);
  if (it->resident) counters_.resident_bytes -= static_cast<std::int64_t>(it->bytes);
  if (it->was_resident) counters_.ever_resident_bytes -= static_cast<std::int64_t>(it->bytes);
  cudaFree(ptr);
  lru_.erase(it);
}

void PageManager::use_queued(void* ptr) {
  std::lock_guard lock(mutex_);
  if (in_use_ == ptr) in_use_ = nullptr;
}

std::list<PageManager::Block>::iterator PageManager::find(void* ptr) {
  for (auto it = lru_.begin(); it != lru_.end(); ++it)
    if (it->ptr == ptr) return it;
  return lru_.end();
}

std::int64_t PageManager::resident_limit() const {
  if (budget_ <= 0) return 0;
  return std::max<std::int64_t>(0, budget_ - allocator_reserved_);
}

void PageManager::evict_until_fits(std::size_t incoming, std::int64_t limit, void* stream) {
  if (limit <= 0 && budget_ <= 0) return;
  const auto s = static_cast<cudaStream_t>(stream);
  // Most recently used first. An optimizer step visits the tensors in the same order every step,
  // and for such a cycle least-recently-used eviction always throws out the tensor needed next:
  // on Llama-3.2-3B under 40 GiB it moved 24 GB each way per step for 26 GB of state. Evicting the
  // most recently used keeps a stable resident set and moves only the overflow (Belady's choice
  // for a cyclic pattern).
  // The block being updated stays: evicting it would send its update's kernel faulting its pages
  // back (a 1B test run did, and the ledger lost sight of them). If the room needs it too, the
  // run's demand goes over its budget, and is recorded so.
  for (auto it = lru_.begin();
       it != lru_.end() && counters_.resident_bytes + static_cast<std::int64_t>(incoming) > limit; ++it) {
    if (!it->resident || it->ptr == in_use_) continue;
    check(cudaMemPrefetchAsync(it->ptr, it->bytes, location_of(-1), 0, s),
          "evict (cudaMemPrefetchAsync to host)");
    it->resident = false;
    counters_.resident_bytes -= static_cast<std::int64_t>(it->bytes);
    counters_.evicted_to_host += static_cast<std::int64_t>(it->bytes);
  }
}

bool PageManager::under_pressure(std::size_t bytes) const {
  size_t free_b = 0;
  size_t total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) return true;
  constexpr std::size_t kMargin = std::size_t{2} << 30;
  return free_b < bytes + kMargin;
}

void PageManager::prefetch_for_use(void* ptr, void* stream) {
  const std::int64_t reserved = budget_ > 0 ? allocator_reserved_now(device_) : 0;
  std::lock_guard lock(mutex_);
  if (budget_ > 0) allocator_reserved_ = reserved;
  auto it = find(ptr);
  if (it == lru_.end()) throw std::logic_error("prefetch of memory the page manager does not own");
  Block block = *it;
  lru_.erase(it);
  in_use_ = nullptr;  // the previous block's update is queued before anything this one does
  // Under a budget, the others make room for this block whether or not it is resident: every
  // block starts resident after its first touch, so evicting only on a miss would never page.
  // The block itself is out of the LRU list here and cannot be chosen.
  if (budget_ > 0) evict_until_fits(block.resident ? 0 : block.bytes, resident_limit(), stream);
  if (!block.resident) {
    if (concurrent_managed_access(device_)) {
      make_resident(block, stream);
    } else {
      // Without concurrent access the driver moves the pages itself when a kernel uses them.
      block.resident = true;
      counters_.resident_bytes += static_cast<std::int64_t>(block.bytes);
      mark_ever_resident(block);
    }
  } else if (budget_ <= 0 && concurrent_managed_access(device_) && under_pressure(block.bytes)) {
    // No budget: the driver evicts managed pages only when device memory runs short, so
    // bitsandbytes' prefetch before every update is repeated only then. A prefetch of resident
    // pages is not free: it walks every page, and doubled the step of 8 GB of resident state.
    check(cudaMemPrefetchAsync(block.ptr, block.bytes, location_of(device_), 0,
                               static_cast<cudaStream_t>(stream)),
          "cudaMemPrefetchAsync");
  }
  lru_.push_front(block);
  in_use_ = block.ptr;
}

}  // namespace optiscope::optim
