// The memory-truth accounting on synthetic migration streams: residency measured from CUPTI's
// transfer records per allocation, and the split of the driver's used figure into its cache of
// evicted managed pages and what nothing explains.
#include <gtest/gtest.h>

#include "probes/device_accounting.h"
#include "probes/migration_residency.h"

using optiscope::probes::DriverUsedInputs;
using optiscope::probes::ManagedRange;
using optiscope::probes::Migration;
using optiscope::probes::MigrationResidency;
using optiscope::probes::split_driver_used;

namespace {
constexpr std::uint64_t kMiB = 1 << 20;
constexpr std::uint64_t kA = 0x7f0000000000;
constexpr std::uint64_t kB = kA + 64 * kMiB;  // adjacent to A
constexpr std::uint64_t kC = kA + 1024 * kMiB;
}  // namespace

TEST(MigrationResidency, PrefetchInAndEvictionOutPerRange) {
  MigrationResidency r;
  r.set_ranges({{kA, 64 * kMiB}, {kB, 32 * kMiB}, {kC, 16 * kMiB}});
  EXPECT_EQ(r.resident(), 0) << "state first touched on the host is not resident";
  // The driver reports a 64 MiB prefetch as many records of up to 2 MiB.
  for (std::uint64_t off = 0; off < 64 * kMiB; off += 2 * kMiB) r.apply({kA + off, 2 * kMiB, true});
  r.apply({kC, 16 * kMiB, true});
  EXPECT_EQ(r.resident(), static_cast<std::int64_t>(80 * kMiB));
  EXPECT_EQ(r.resident_of(kA), static_cast<std::int64_t>(64 * kMiB));
  EXPECT_EQ(r.resident_of(kB), 0);
  r.apply({kA, 64 * kMiB, false});  // evicted whole
  r.apply({kB, 32 * kMiB, true});
  EXPECT_EQ(r.resident(), static_cast<std::int64_t>(48 * kMiB));
  EXPECT_EQ(r.peak(), static_cast<std::int64_t>(80 * kMiB));
  EXPECT_EQ(r.unattributed_bytes(), 0);
}

TEST(MigrationResidency, ARecordStraddlingTwoAllocationsIsSplit) {
  MigrationResidency r;
  r.set_ranges({{kA, 64 * kMiB}, {kB, 32 * kMiB}});
  r.apply({kB - 1 * kMiB, 2 * kMiB, true});
  EXPECT_EQ(r.resident_of(kA), static_cast<std::int64_t>(1 * kMiB));
  EXPECT_EQ(r.resident_of(kB), static_cast<std::int64_t>(1 * kMiB));
}

TEST(MigrationResidency, BytesOutsideEveryAllocationAreUnattributed) {
  MigrationResidency r;
  r.set_ranges({{kA, 64 * kMiB}});
  r.apply({kC, 4 * kMiB, true});  // another program's managed memory, or a freed allocation
  EXPECT_EQ(r.resident(), 0);
  EXPECT_EQ(r.unattributed_bytes(), static_cast<std::int64_t>(4 * kMiB));
}

TEST(MigrationResidency, ResidencyIsClampedToTheRange) {
  MigrationResidency r;
  r.set_ranges({{kA, 8 * kMiB}});
  r.apply({kA, 8 * kMiB, true});
  r.apply({kA, 8 * kMiB, true});  // a repeated record cannot make more resident than exists
  EXPECT_EQ(r.resident(), static_cast<std::int64_t>(8 * kMiB));
  r.apply({kA, 8 * kMiB, false});
  EXPECT_EQ(r.resident(), 0);
  r.apply({kA, 2 * kMiB, true});
  EXPECT_EQ(r.resident(), static_cast<std::int64_t>(2 * kMiB)) << "after a full eviction it counts afresh";
}

TEST(MigrationResidency, PeakIsPerStepAfterReset) {
  MigrationResidency r;
  r.set_ranges({{kA, 64 * kMiB}, {kC, 16 * kMiB}});
  r.apply({kA, 64 * kMiB, true});
  r.apply({kA, 64 * kMiB, false});
  r.reset_peak();
  EXPECT_EQ(r.peak(), 0);
  r.apply({kC, 16 * kMiB, true});
  EXPECT_EQ(r.peak(), static_cast<std::int64_t>(16 * kMiB));
}

TEST(MigrationResidency, RangesKeepTheirStateAcrossUpdatesAndNewOnesStartEmpty) {
  MigrationResidency r;
  r.set_ranges({{kA, 64 * kMiB}});
  r.apply({kA, 64 * kMiB, true});
  r.set_ranges({{kA, 64 * kMiB}, {kC, 16 * kMiB}});
  EXPECT_EQ(r.resident(), static_cast<std::int64_t>(64 * kMiB));
  r.set_ranges({{kC, 16 * kMiB}});  // A was freed
  EXPECT_EQ(r.resident(), 0);
}

TEST(MigrationResidency, DisagreeingAllocationsAreCountedAtOnePercent) {
  MigrationResidency r;
  r.set_ranges({{kA, 64 * kMiB}, {kB, 32 * kMiB}, {kC, 16 * kMiB}});
  r.apply({kA, 64 * kMiB, true});
  r.apply({kB, 32 * kMiB - 256 * 1024, true});  // 0.8 % short: within tolerance
  // The ledger says C is resident too, but no migration brought it: the page manager is wrong.
  const std::map<std::uint64_t, std::int64_t> ledger{{kA, 64 * kMiB}, {kB, 32 * kMiB}, {kC, 16 * kMiB}};
  EXPECT_EQ(r.disagreeing(ledger), 1);
  r.apply({kC, 16 * kMiB, true});
  EXPECT_EQ(r.disagreeing(ledger), 0);
}

TEST(DriverUsedSplit, UnexplainedMemoryUpToWhatWasEvictedIsTheDriversCache) {
  DriverUsedInputs in;
  in.context = 500 * kMiB;
  in.foreign = 0;
  in.reserved = 30'000 * kMiB;
  in.paged_resident = 4'000 * kMiB;
  in.evicted_held_max = 20'000 * kMiB;
  // The H200 case: 20 GiB evicted, the driver still holds all of it, plus 100 MiB nobody explains.
  in.driver_used = static_cast<std::int64_t>((500 + 30'000 + 4'000 + 20'000 + 100) * kMiB);
  const auto split = split_driver_used(in);
  EXPECT_EQ(split.driver_cache, static_cast<std::int64_t>(20'000 * kMiB));
  EXPECT_EQ(split.other, static_cast<std::int64_t>(100 * kMiB));
}

TEST(DriverUsedSplit, NothingEvictedMeansNoDriverCache) {
  DriverUsedInputs in;
  in.context = 500 * kMiB;
  in.reserved = 1'000 * kMiB;
  in.driver_used = static_cast<std::int64_t>(1'700 * kMiB);
  const auto split = split_driver_used(in);
  EXPECT_EQ(split.driver_cache, 0);
  EXPECT_EQ(split.other, static_cast<std::int64_t>(200 * kMiB));
}

TEST(DriverUsedSplit, ForeignMemoryAtTheStartBelongsToNoCategory) {
  DriverUsedInputs in;
  in.context = 500 * kMiB;
  in.foreign = 100'000 * kMiB;  // a ballast process
  in.reserved = 1'000 * kMiB;
  in.evicted_held_max = 1'000 * kMiB;
  in.driver_used = static_cast<std::int64_t>((100'000 + 500 + 1'000 + 300) * kMiB);
  const auto split = split_driver_used(in);
  EXPECT_EQ(split.driver_cache, static_cast<std::int64_t>(300 * kMiB));
  EXPECT_EQ(split.other, 0);
}

TEST(DriverUsedSplit, UnknownDriverFigureSplitsNothing) {
  DriverUsedInputs in;
  in.reserved = 1'000;
  const auto split = split_driver_used(in);
  EXPECT_EQ(split.driver_cache, 0);
  EXPECT_EQ(split.other, 0);
}
