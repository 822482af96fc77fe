#pragma once
// Managed memory resident on the device, measured from the migrations themselves rather than
// believed from the page manager's own bookkeeping. Each paged allocation is an address range;
// CUPTI's unified-memory transfer records say how many bytes moved into it (host to device) and out
// of it (device to host). Resident bytes of a range = moved in - moved out, clamped to the range.
//
// This only measures if every byte reaches the device by a recorded migration: the page manager
// therefore first touches paged state on the host and prefetches it (prefetch migrations are
// recorded to the byte; a first touch on the device would populate pages that no record mentions).
#include <cstdint>
#include <map>
#include <vector>

namespace optiscope::probes {

struct ManagedRange {
  std::uint64_t address = 0;
  std::uint64_t bytes = 0;
};

/// One transfer of a unified-memory record: bytes into the device (to_device) or out of it.
struct Migration {
  std::uint64_t address = 0;
  std::uint64_t bytes = 0;
  bool to_device = true;
};

class MigrationResidency {
 public:
  /// Ranges that appear are tracked from zero residency; ranges that vanish are dropped.
  void set_ranges(const std::vector<ManagedRange>& ranges);
  /// Applies one migration; bytes outside every tracked range count as unattributed.
  void apply(const Migration& m);

  std::int64_t resident() const { return resident_; }
  std::int64_t resident_of(std::uint64_t address) const;
  /// Highest total residency since the last reset_peak().
  std::int64_t peak() const { return peak_; }
  void reset_peak() { peak_ = resident_; }
  std::int64_t unattributed_bytes() const { return unattributed_; }

  /// Ranges whose measured residency differs from `expected` (the ledger's per-range figure, by
  /// base address) by more than `tolerance` of the range's size.
  int disagreeing(const std::map<std::uint64_t, std::int64_t>& expected, double tolerance = 0.01) const;

 private:
  struct Tracked {
    std::uint64_t bytes = 0;
    std::int64_t resident = 0;  // kept within [0, bytes] after every migration
  };
  void recompute_total();

  std::map<std::uint64_t, Tracked> ranges_;  // by base address
  std::int64_t resident_ = 0;
  std::int64_t peak_ = 0;
  std::int64_t unattributed_ = 0;
};

}  // namespace optiscope::probes
