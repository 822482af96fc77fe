#include "probes/cpu_memory_tracker.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

namespace optiscope::probes {
namespace {

std::atomic<std::int64_t> g_current{0};
std::atomic<std::int64_t> g_peak{0};
std::atomic<std::int64_t> g_budget{0};
std::atomic<bool> g_installed{false};

// Size is kept in a header in front of the data; 64 bytes keeps the data as aligned as LibTorch's
// own allocator makes it.
constexpr std::size_t kHeader = 64;

void raise_peak(std::int64_t now) {
  std::int64_t peak = g_peak.load(std::memory_order_relaxed);
  while (now > peak && !g_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

// The data pointer is also the context (LibTorch checks data == context for CPU storages it
// may reallocate or share copy-on-write); the size lives in a header just before it.
void counting_delete(void* data) {
  if (data == nullptr) return;
  auto* base = static_cast<unsigned char*>(data) - kHeader;
  std::size_t n = 0;
  std::memcpy(&n, base, sizeof n);
  g_current.fetch_sub(static_cast<std::int64_t>(n), std::memory_order_relaxed);
  std::free(base);
}

class CountingCpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(std::size_t n) override {
    const auto bytes = static_cast<std::int64_t>(n);
    const std::int64_t budget = g_budget.load(std::memory_order_relaxed);
    const std::int64_t now = g_current.fetch_add(bytes, std::memory_order_relaxed) + bytes;
    if (budget > 0 && now > budget) {
      g_current.fetch_sub(bytes, std::memory_order_relaxed);
      TORCH_CHECK_WITH(OutOfMemoryError, false, "CPU budget exceeded: tried to allocate ", n, " bytes with ",
                       now - bytes, " of ", budget, " bytes in use");
    }
    raise_peak(now);
    void* base = std::aligned_alloc(kHeader, kHeader + ((n + kHeader - 1) / kHeader) * kHeader);
    if (base == nullptr) {
      g_current.fetch_sub(bytes, std::memory_order_relaxed);
      TORCH_CHECK_WITH(OutOfMemoryError, false, "out of host memory allocating ", n, " bytes");
    }
    std::memcpy(base, &n, sizeof n);
    void* data = static_cast<unsigned char*>(base) + kHeader;
    return {data, data, &counting_delete, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &counting_delete; }

  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }
};

}  // namespace

void CpuMemoryTracker::install() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Leaked on purpose: tensors freed during static destruction still need their deleter's state.
    static auto* allocator = new CountingCpuAllocator();
    c10::SetCPUAllocator(allocator, /*priority=*/100);
    g_installed = true;
  });
}

bool CpuMemoryTracker::installed() {
  return g_installed.load();
}
std::int64_t CpuMemoryTracker::current_bytes() {
  return g_current.load(std::memory_order_relaxed);
}
std::int64_t CpuMemoryTracker::peak_bytes() {
  return g_peak.load(std::memory_order_relaxed);
}
void CpuMemoryTracker::reset_peak() {
  g_peak.store(g_current.load(std::memory_order_relaxed));
}
void CpuMemoryTracker::set_budget(std::int64_t bytes) {
  g_budget.store(bytes);
}
std::int64_t CpuMemoryTracker::budget() {
  return g_budget.load();
}

}  // namespace optiscope::probes
