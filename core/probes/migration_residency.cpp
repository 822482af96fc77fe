#include "probes/migration_residency.h"

#include <algorithm>
#include <cstdlib>

namespace optiscope::probes {

void MigrationResidency::set_ranges(const std::vector<ManagedRange>& ranges) {
  std::map<std::uint64_t, Tracked> next;
  for (const auto& r : ranges) {
    auto old = ranges_.find(r.address);
    Tracked t = old != ranges_.end() && old->second.bytes == r.bytes ? old->second : Tracked{};
    t.bytes = r.bytes;
    next.emplace(r.address, t);
  }
  ranges_ = std::move(next);
  recompute_total();
}

void MigrationResidency::apply(const Migration& m) {
  // A record covers a contiguous run of pages; it may straddle two neighbouring allocations, so
  // it is split over every range it overlaps.
  std::uint64_t start = m.address;
  const std::uint64_t end = m.address + m.bytes;
  auto it = ranges_.upper_bound(start);
  if (it != ranges_.begin()) --it;
  std::uint64_t attributed = 0;
  for (; it != ranges_.end() && it->first < end; ++it) {
    const std::uint64_t lo = std::max(start, it->first);
    const std::uint64_t hi = std::min(end, it->first + it->second.bytes);
    if (hi <= lo) continue;
    Tracked& t = it->second;
    const std::int64_t before = t.resident;
    const auto moved = static_cast<std::int64_t>(hi - lo);
    // Clamped at each record: pages cannot be resident twice, nor leave twice.
    t.resident = std::clamp<std::int64_t>(t.resident + (m.to_device ? moved : -moved), 0,
                                          static_cast<std::int64_t>(t.bytes));
    resident_ += t.resident - before;
    attributed += hi - lo;
  }
  unattributed_ += static_cast<std::int64_t>(m.bytes - attributed);
  peak_ = std::max(peak_, resident_);
}

std::int64_t MigrationResidency::resident_of(std::uint64_t address) const {
  const auto it = ranges_.find(address);
  return it == ranges_.end() ? 0 : it->second.resident;
}

int MigrationResidency::disagreeing(const std::map<std::uint64_t, std::int64_t>& expected,
                                    double tolerance) const {
  int n = 0;
  for (const auto& [address, t] : ranges_) {
    const auto e = expected.find(address);
    const std::int64_t want = e == expected.end() ? 0 : e->second;
    if (static_cast<double>(std::llabs(t.resident - want)) > tolerance * static_cast<double>(t.bytes)) ++n;
  }
  return n;
}

void MigrationResidency::recompute_total() {
  resident_ = 0;
  for (const auto& [address, t] : ranges_) resident_ += t.resident;
  peak_ = std::max(peak_, resident_);
}

}  // namespace optiscope::probes
