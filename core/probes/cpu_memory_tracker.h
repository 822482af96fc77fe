#pragma once
// Counts every byte LibTorch allocates on the CPU, by replacing its CPU allocator with a counting
// one; gives CPU runs the same "allocated / peak" figures the CUDA caching allocator gives, and a
// budget that turns into a real out-of-memory error, so small cards can be emulated on a laptop.
#include <cstdint>

namespace optiscope::probes {

class CpuMemoryTracker {
 public:
  /// Installs the counting allocator once per process (idempotent, thread-safe).
  static void install();
  static bool installed();
  static std::int64_t current_bytes();
  static std::int64_t peak_bytes();
  static void reset_peak();
  /// 0 = unlimited. An allocation that would go past it throws c10::OutOfMemoryError.
  static void set_budget(std::int64_t bytes);
  static std::int64_t budget();
};

}  // namespace optiscope::probes
