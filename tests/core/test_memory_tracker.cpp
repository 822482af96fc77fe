#include <gtest/gtest.h>
#include <torch/torch.h>

#include "probes/cpu_memory_tracker.h"

using optiscope::probes::CpuMemoryTracker;

TEST(CpuMemoryTracker, CountsTensorBytesAndPeak) {
  CpuMemoryTracker::install();
  const auto before = CpuMemoryTracker::current_bytes();
  CpuMemoryTracker::reset_peak();
  {
    auto t = torch::empty({1 << 20}, torch::kFloat32);  // 4 MiB
    EXPECT_GE(CpuMemoryTracker::current_bytes() - before, 4 << 20);
  }
  EXPECT_LT(CpuMemoryTracker::current_bytes() - before, 4 << 20);
  EXPECT_GE(CpuMemoryTracker::peak_bytes() - before, 4 << 20);
}

TEST(CpuMemoryTracker, BudgetTurnsIntoOutOfMemoryError) {
  CpuMemoryTracker::install();
  CpuMemoryTracker::set_budget(CpuMemoryTracker::current_bytes() + (1 << 20));
  EXPECT_THROW(torch::empty({1 << 22}, torch::kFloat32), c10::OutOfMemoryError);
  CpuMemoryTracker::set_budget(0);
  EXPECT_NO_THROW(torch::empty({1 << 22}, torch::kFloat32));
}
