#pragma once
// Paged optimizer state: managed (unified) allocations made as bitsandbytes makes them, prefetched
// to the device before each tensor's update. With a device budget, the manager keeps no more
// paged bytes resident than the budget leaves after the caching allocator's share, evicting the
// most recently used tensors to the host first (an optimizer visits its tensors in a fixed cycle, for which
// that is the best choice and LRU the worst), so an emulated smaller card pages for real.
//
// Safety rule (DESIGN.md): it never allocates more managed memory than the device has free at
// that moment; over-subscribing managed memory can hang a GPU.
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace optiscope::optim {

class ManagedMemoryRefused : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The safety rule on its own, so builds without a GPU can test it: throws ManagedMemoryRefused
/// when a managed allocation of `bytes` would exceed the `free_bytes` the device reports.
/// allocator_headroom: what LibTorch's allocator may still claim under the run's budget. Counting
/// it keeps managed memory plus the budget within the device: checking the free figure alone let
/// Llama-3.1-8B's 60 GiB of paged 32-bit state in beside a 40 GiB budget on an 80 GiB H100, and the
/// driver then had to evict managed pages as the allocator grew (recorded 2026-11-26; no hang).
inline void refuse_oversubscription(std::size_t bytes, std::size_t free_bytes,
                                    std::size_t allocator_headroom = 0) {
  if (bytes + allocator_headroom <= free_bytes) return;
  throw ManagedMemoryRefused(
      "refused to allocate " + std::to_string(bytes >> 20) + " MiB of managed memory: the device has " +
      std::to_string(free_bytes >> 20) + " MiB free" +
      (allocator_headroom > 0 ? " and the run's budget keeps " + std::to_string(allocator_headroom >> 20) +
                                    " MiB of it for LibTorch's allocator"
                              : std::string()) +
      ", and over-subscribing managed memory can hang the GPU. Use a larger card, "
      "an 8-bit or an offload_ variant");
}

struct PagingCounters {
  std::int64_t managed_bytes = 0;   // allocated managed memory
  std::int64_t resident_bytes = 0;  // of which the manager last put on the device
  // Managed bytes that have been on the device at some time since the budget was set: the driver
  // keeps the device chunks of evicted pages, so this less what is resident bounds its cache. (On
  // the H200, 8B paged 32-bit state cycled through a 40 GiB budget left 52 GiB of such chunks.)
  std::int64_t ever_resident_bytes = 0;
  std::int64_t prefetched_to_device = 0;  // bytes the manager moved host -> device (cumulative)
  std::int64_t evicted_to_host = 0;       // bytes the manager moved device -> host (cumulative)
};

class PageManager {
 public:
  /// The process-wide manager for one device.
  static PageManager& for_device(int device);

  /// cudaMallocManaged(cudaMemAttachHost), zero-filled on the host, then prefetched to the device
  /// when there is no budget; under a budget it stays on the host until prefetch_for_use. bitsandbytes fills
  /// on the device instead; a host first touch means every byte reaches the device through a recorded
  /// prefetch, so residency can be measured from the migrations, and a budget holds from the first byte.
  /// Throws ManagedMemoryRefused when bytes exceed what the device has free.
  void* allocate(std::size_t bytes, void* stream);
  void release(void* ptr);

  /// Makes [ptr, ptr+bytes) resident before its use on stream, evicting others if the budget asks.
  /// Until use_queued(ptr), the block is in use and no eviction chooses it.
  void prefetch_for_use(void* ptr, void* stream);
  /// The kernels that use ptr are queued: an eviction now is ordered after them on the stream.
  void use_queued(void* ptr);

  /// The run's device budget less its context (0 = none: residency is left to the driver, as
  /// bitsandbytes does). Paged state may then use what the caching allocator has not reserved, and
  /// gives it back the moment the allocator grows (see on_allocator_segment).
  void set_budget(std::int64_t bytes);
  std::int64_t budget() const { return budget_; }
  PagingCounters counters() const;

  /// Called when LibTorch's caching allocator maps (grows > 0) or unmaps (grows < 0) a segment on
  /// this device. Under a budget, a growth evicts paged state at once so that reserved + resident
  /// stays within the budget: a card of that size would have to, since its driver evicts managed
  /// pages to satisfy cudaMalloc. Without it, state made resident in one step's optimizer phase
  /// stayed while the next step's backward grew the allocator: Llama-3.1-8B paged 8-bit reached
  /// 41.9 GiB under 40 (H200, 2026-12-04). Runs inside the allocator: it makes no LibTorch call.
  void on_allocator_segment(std::int64_t grows, void* stream);

  struct Range {
    std::uint64_t address;
    std::uint64_t bytes;
    bool resident;  // by the ledger
  };
  /// Every managed allocation, for matching migration records to allocations.
  std::vector<Range> ranges() const;

 private:
  explicit PageManager(int device) : device_(device) {}
  struct Block {
    void* ptr;
    std::size_t bytes;
    bool resident;
    bool was_resident = false;
  };
  std::list<Block>::iterator find(void* ptr);
  void evict_until_fits(std::size_t incoming, std::int64_t limit, void* stream);
  std::int64_t resident_limit() const;
  bool under_pressure(std::size_t bytes) const;
  void make_resident(Block& block, void* stream);
  void mark_ever_resident(Block& block);

  int device_;
  std::int64_t budget_ = 0;
  // What the caching allocator holds, as of the last read of its statistics plus the segments it
  // has mapped since (the allocator hook may not read its statistics).
  std::int64_t allocator_reserved_ = 0;
  // The block being updated now: an eviction from inside the allocator leaves it alone, or the
  // update's kernel would fault its pages straight back.
  void* in_use_ = nullptr;
  std::list<Block> lru_;  // front = most recently used
  PagingCounters counters_;
  // The allocator hook can run on autograd's device thread; recursive because an eviction never
  // allocates, but a caller holding the lock may still trigger the hook on its own thread.
  mutable std::recursive_mutex mutex_;
};

}  // namespace optiscope::optim
