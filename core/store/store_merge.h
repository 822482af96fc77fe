#pragma once
// Copies runs from one store into another: a sweep's workers each record into a store of their own
// (a worker that crashes cannot corrupt the target) and the sweep merges every finished run into the
// target, where a GUI watching it sees the run appear whole.
//
// Columns are copied by name from the source's own table definitions (PRAGMA table_info), and every
// table with a run_id column (or a foreign key to runs) is copied, so a column or a per-run table a
// later schema adds is merged without touching this code. Ids the run's rows point at through a
// foreign key to another table (kernel_stats.name_id -> kernel_names.id) are remapped through that
// table's other columns (the kernel's name).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/records.h"
#include "store/store.h"

namespace optiscope {

struct MergeOptions {
  std::int64_t comparison_id = 0;  // the target comparison the runs join (must exist)
  int ordinal_offset = 0;          // added to each source run's ordinal
  /// A run the source still marks running (its writer died) gets this outcome and detail instead.
  std::optional<Outcome> running_outcome;
  std::string running_detail;
};

struct MergedRun {
  std::int64_t source_run_id = 0;
  std::int64_t run_id = 0;                    // in the target
  Outcome source_outcome = Outcome::running;  // as the source recorded it
  std::int64_t last_step = 0;                 // the last step the source holds for it (0: none)
};

/// Copies every run of the store at source_path (with all its rows) into target under
/// options.comparison_id, in one transaction: a reader sees all of a run or none of it. Throws
/// StoreError when the source is not an Optiscope store, or is of another schema version than the
/// target (nothing is copied then); the source is only read.
std::vector<MergedRun> merge_store(Store& target, const std::string& source_path,
                                   const MergeOptions& options);

}  // namespace optiscope
