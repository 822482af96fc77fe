#pragma once
// Unified-memory activity from an Nsight Systems SQLite export (nsys export --type sqlite) as the
// paging events (um_events rows) of an Optiscope run.
//
// Tables and columns read, as the Nsight Systems user guide's SQLite schema reference names them
// (docs/importers.md keeps the list and its sources):
//   CUDA_UM_CPU_PAGE_FAULT_EVENTS  start, address                           -> cpu_page_fault
//   CUDA_UM_GPU_PAGE_FAULT_EVENTS  start, end, address, numberOfPageFaults  -> gpu_page_fault_group
//   CUPTI_ACTIVITY_KIND_MEMCPY     start, end, bytes, copyKind, and where present migrationCause
//                                  and virtualAddress; only the unified-memory copy kinds of
//                                  ENUM_CUDA_MEMCPY_OPER: 11 HtoD, 12 DtoH, 13 DtoD -> bytes_*
// migrationCause uses ENUM_CUDA_UNIF_MEM_MIGRATION, whose numbering (unknown, user prefetch, page
// fault, speculative prefetch, eviction, access counters) is CUPTI's and probes::UmMigrationCause's.
// Nsight's clock is not Optiscope's, so events carry step -1 (outside every step).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "importers/import_common.h"
#include "store/records.h"

namespace optiscope {
class Store;
}

namespace optiscope::importers {

struct NsysUmData {
  std::string source_path;
  std::vector<UmEventRow> events;  // by start time
  std::vector<std::string> tables_read;
  std::int64_t cpu_faults = 0;  // CPU fault records
  std::int64_t gpu_fault_records = 0;
  std::int64_t gpu_faults = 0;  // sum of numberOfPageFaults
  std::int64_t transfers = 0;   // unified-memory memcpy records
  std::int64_t htod_bytes = 0;
  std::int64_t dtoh_bytes = 0;
  std::int64_t dtod_bytes = 0;
  std::int64_t other_copies = 0;          // explicit memcpys: not paging, not imported
  std::int64_t reordered_timestamps = 0;  // end before start: end set to start
  std::string gpu_name;                   // TARGET_INFO_GPU.name where the export has it
};

/// Opens the export read-only and immutable (no lock, journal or -wal/-shm file is created next to
/// it), checks the schema and every value, and returns the events. Throws ImportError naming the
/// table, column or row at fault.
NsysUmData read_nsys_sqlite(const std::string& path);

struct NsysImportOptions {
  std::string name;                    // name of the new comparison; empty: from the file name
  std::string optim;                   // optimizer of a new run; empty: "unknown"
  std::optional<std::int64_t> run_id;  // add the events to this existing run instead
};

/// Writes the events, in one transaction, to a new comparison with one completed run on device
/// "imported", or to an existing run that has no paging events yet.
ImportResult write_nsys_events(Store& store, const NsysUmData& data, const NsysImportOptions& options);

}  // namespace optiscope::importers
