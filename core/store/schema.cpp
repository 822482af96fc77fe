#include "store/schema.h"

#include <string>

#include "store/sqlite_statement.h"
#include "store/store.h"

namespace optiscope::schema {
namespace {

constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE meta(
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE comparisons(
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL,
  created_at TEXT NOT NULL,
  spec_json  TEXT NOT NULL
);
CREATE TABLE runs(
  id             INTEGER PRIMARY KEY,
  comparison_id  INTEGER NOT NULL REFERENCES comparisons(id),
  ordinal        INTEGER NOT NULL,
  optim          TEXT NOT NULL,
  spec_json      TEXT NOT NULL,
  device         TEXT NOT NULL,
  outcome        TEXT NOT NULL,
  outcome_detail TEXT NOT NULL DEFAULT '',
  oom_step       INTEGER,
  oom_bytes      INTEGER,
  started_at     TEXT NOT NULL,
  finished_at    TEXT
);
CREATE INDEX runs_by_comparison ON runs(comparison_id, ordinal);
CREATE TABLE steps(
  run_id    INTEGER NOT NULL REFERENCES runs(id),
  step      INTEGER NOT NULL,
  loss      REAL NOT NULL,
  lr        REAL NOT NULL,
  step_ms   REAL NOT NULL,
  tokens    INTEGER NOT NULL,
  mem_bytes INTEGER NOT NULL,
  PRIMARY KEY(run_id, step)
) WITHOUT ROWID;
)sql";

// Version 2: per-phase timing and evaluation loss on steps; memory by category; CUPTI events and
// the page manager's own counts per step, for completeness; what could be captured per run.
constexpr const char* kMigrateV1toV2 = R"sql(
ALTER TABLE steps ADD COLUMN forward_ms REAL;
ALTER TABLE steps ADD COLUMN backward_ms REAL;
ALTER TABLE steps ADD COLUMN optimizer_ms REAL;
ALTER TABLE steps ADD COLUMN eval_loss REAL;
ALTER TABLE runs ADD COLUMN writer_pid INTEGER;
ALTER TABLE runs ADD COLUMN writer_host TEXT;
CREATE TABLE memory_samples(
  run_id            INTEGER NOT NULL REFERENCES runs(id),
  step              INTEGER NOT NULL,
  phase             INTEGER NOT NULL,  -- 0 forward, 1 backward, 2 optimizer
  point             INTEGER NOT NULL,  -- 0 end of phase, 1 peak within phase
  parameters        INTEGER NOT NULL,
  gradients         INTEGER NOT NULL,
  optimizer_device  INTEGER NOT NULL,
  optimizer_paged_resident INTEGER NOT NULL,
  optimizer_paged_host     INTEGER NOT NULL,
  optimizer_pinned_host    INTEGER NOT NULL,
  activations       INTEGER NOT NULL,
  allocator_cache   INTEGER NOT NULL,
  other_device      INTEGER NOT NULL,
  PRIMARY KEY(run_id, step, phase, point)
) WITHOUT ROWID;
CREATE TABLE paging_steps(
  run_id        INTEGER NOT NULL REFERENCES runs(id),
  step          INTEGER NOT NULL,
  manager_htod  INTEGER NOT NULL,  -- bytes the page manager prefetched to the device
  manager_dtoh  INTEGER NOT NULL,  -- bytes the page manager evicted to the host
  recorded_htod INTEGER NOT NULL,  -- bytes CUPTI recorded host to device (all causes)
  recorded_dtoh INTEGER NOT NULL,
  gpu_faults    INTEGER NOT NULL,
  cpu_faults    INTEGER NOT NULL,
  thrashing     INTEGER NOT NULL,
  throttling    INTEGER NOT NULL,
  PRIMARY KEY(run_id, step)
) WITHOUT ROWID;
CREATE TABLE um_events(
  run_id   INTEGER NOT NULL,
  seq      INTEGER NOT NULL,  -- order of arrival within the run, from 0
  step     INTEGER NOT NULL,  -- -1 when outside every step
  kind     INTEGER NOT NULL,  -- optiscope::probes::UmEventKind
  cause    INTEGER NOT NULL,  -- optiscope::probes::UmMigrationCause
  start_ns INTEGER NOT NULL,
  end_ns   INTEGER NOT NULL,
  value    INTEGER NOT NULL,  -- bytes for transfers, a count for faults
  address  INTEGER NOT NULL,
  PRIMARY KEY(run_id, seq)
) WITHOUT ROWID;  -- clustered by run: no second index to maintain, a run reads as one range
CREATE TABLE kernel_names(
  id   INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);
CREATE TABLE kernel_stats(  -- kernels aggregated per step and name: a launch each would make stores huge
  run_id   INTEGER NOT NULL,
  step     INTEGER NOT NULL,
  name_id  INTEGER NOT NULL REFERENCES kernel_names(id),
  launches INTEGER NOT NULL,
  total_ns INTEGER NOT NULL,  -- summed kernel durations
  first_ns INTEGER NOT NULL,  -- start of the first launch, ns since the run started
  last_ns  INTEGER NOT NULL,  -- end of the last launch
  PRIMARY KEY(run_id, step, name_id)
) WITHOUT ROWID;
CREATE TABLE memcpys(
  run_id   INTEGER NOT NULL,
  step     INTEGER NOT NULL,
  kind     INTEGER NOT NULL,  -- optiscope::probes::MemcpyKind
  bytes    INTEGER NOT NULL,
  start_ns INTEGER NOT NULL,
  end_ns   INTEGER NOT NULL
);
CREATE INDEX memcpys_by_step ON memcpys(run_id, step);
CREATE TABLE captures(
  run_id          INTEGER PRIMARY KEY REFERENCES runs(id),
  um_counters     INTEGER NOT NULL,
  kernels         INTEGER NOT NULL,
  memcpy          INTEGER NOT NULL,
  note            TEXT NOT NULL,
  dropped_records INTEGER NOT NULL DEFAULT 0
);
)sql";

// Version 3: memory truth. The CUDA context and the driver's cache of evicted managed pages get
// their own memory categories; paging steps carry the page manager's resident figure beside the one
// measured from the migrations; runs whose measured demand exceeded their budget say where.
constexpr const char* kMigrateV2toV3 = R"sql(
ALTER TABLE memory_samples ADD COLUMN context INTEGER NOT NULL DEFAULT 0;
ALTER TABLE memory_samples ADD COLUMN driver_cache INTEGER NOT NULL DEFAULT 0;
ALTER TABLE paging_steps ADD COLUMN ledger_resident INTEGER NOT NULL DEFAULT 0;
ALTER TABLE paging_steps ADD COLUMN measured_resident INTEGER;
ALTER TABLE paging_steps ADD COLUMN measured_resident_peak INTEGER;
ALTER TABLE paging_steps ADD COLUMN disagreeing_allocations INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN over_budget_step INTEGER;
ALTER TABLE runs ADD COLUMN over_budget_bytes INTEGER;
)sql";

// Version 4: runs over several ranks (data parallel, optimizer state sharded or not). Each rank's
// memory samples carry its rank, which joins the primary key: SQLite cannot change a key in place,
// so the table is rebuilt (rows of older stores become rank 0's). rank_steps holds each rank's own
// view of a step; steps keep the run's (loss averaged over ranks, rank 0's times) and gain the time
// and bytes of its collectives.
constexpr const char* kMigrateV3toV4 = R"sql(
ALTER TABLE runs ADD COLUMN world_size INTEGER NOT NULL DEFAULT 1;
ALTER TABLE runs ADD COLUMN zero_stage INTEGER NOT NULL DEFAULT 0;
ALTER TABLE steps ADD COLUMN comm_ms REAL;
ALTER TABLE steps ADD COLUMN comm_bytes INTEGER;
CREATE TABLE memory_samples_v4(
  run_id            INTEGER NOT NULL REFERENCES runs(id),
  rank              INTEGER NOT NULL DEFAULT 0,
  step              INTEGER NOT NULL,
  phase             INTEGER NOT NULL,  -- 0 forward, 1 backward, 2 optimizer, 3 communication
  point             INTEGER NOT NULL,  -- 0 end of phase, 1 peak within phase
  parameters        INTEGER NOT NULL,
  gradients         INTEGER NOT NULL,
  optimizer_device  INTEGER NOT NULL,
  optimizer_paged_resident INTEGER NOT NULL,
  optimizer_paged_host     INTEGER NOT NULL,
  optimizer_pinned_host    INTEGER NOT NULL,
  activations       INTEGER NOT NULL,
  allocator_cache   INTEGER NOT NULL,
  other_device      INTEGER NOT NULL,
  context           INTEGER NOT NULL DEFAULT 0,
  driver_cache      INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(run_id, rank, step, phase, point)
) WITHOUT ROWID;
INSERT INTO memory_samples_v4(run_id, rank, step, phase, point, parameters, gradients, optimizer_device,
  optimizer_paged_resident, optimizer_paged_host, optimizer_pinned_host, activations, allocator_cache,
  other_device, context, driver_cache)
SELECT run_id, 0, step, phase, point, parameters, gradients, optimizer_device, optimizer_paged_resident,
  optimizer_paged_host, optimizer_pinned_host, activations, allocator_cache, other_device, context, driver_cache
FROM memory_samples;
DROP TABLE memory_samples;
ALTER TABLE memory_samples_v4 RENAME TO memory_samples;
CREATE TABLE rank_steps(
  run_id       INTEGER NOT NULL REFERENCES runs(id),
  step         INTEGER NOT NULL,
  rank         INTEGER NOT NULL,
  step_ms      REAL NOT NULL,
  forward_ms   REAL NOT NULL,
  backward_ms  REAL NOT NULL,
  optimizer_ms REAL NOT NULL,
  comm_ms      REAL NOT NULL,     -- time in collectives
  comm_bytes   INTEGER NOT NULL,  -- bytes sent plus received in them
  loss         REAL NOT NULL,     -- this rank's own micro-batches
  mem_bytes    INTEGER NOT NULL,  -- this rank's peak device total in the step
  PRIMARY KEY(run_id, step, rank)
) WITHOUT ROWID;
)sql";

}  // namespace

void create_latest(sqlite3* db) {
  detail::exec(db, "BEGIN IMMEDIATE");
  try {
    detail::exec(db, kSchemaV1);
    detail::exec(db, kMigrateV1toV2);
    detail::exec(db, kMigrateV2toV3);
    detail::exec(db, kMigrateV3toV4);
    detail::exec(db, ("PRAGMA application_id = " + std::to_string(kApplicationId)).c_str());
    detail::exec(db, ("PRAGMA user_version = " + std::to_string(kStoreSchemaVersion)).c_str());
    detail::exec(db, "INSERT INTO meta(key, value) VALUES('created_by', 'Optiscope " OPTISCOPE_VERSION "')");
    detail::exec(db, "COMMIT");
  } catch (...) {
    detail::rollback_if_open(db);
    throw;
  }
}

void migrate(sqlite3* db, int from_version) {
  if (from_version == kStoreSchemaVersion) return;
  if (from_version < 1)
    throw StoreError("no migration from store schema version " + std::to_string(from_version));
  detail::exec(db, "BEGIN IMMEDIATE");
  try {
    if (from_version < 2) detail::exec(db, kMigrateV1toV2);
    if (from_version < 3) detail::exec(db, kMigrateV2toV3);
    if (from_version < 4) detail::exec(db, kMigrateV3toV4);
    detail::exec(db, ("PRAGMA user_version = " + std::to_string(kStoreSchemaVersion)).c_str());
    detail::exec(db,
                 "INSERT OR REPLACE INTO meta(key, value) VALUES('migrated_by', 'Optiscope " OPTISCOPE_VERSION
                 "')");
    detail::exec(db, "COMMIT");
  } catch (...) {
    detail::rollback_if_open(db);
    throw;
  }
}

const char* schema_v1_sql() {
  return kSchemaV1;
}
const char* migration_v1_to_v2_sql() {
  return kMigrateV1toV2;
}
const char* migration_v2_to_v3_sql() {
  return kMigrateV2toV3;
}

}  // namespace optiscope::schema
