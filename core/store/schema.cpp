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

}  // namespace

void create_latest(sqlite3* db) {
  detail::exec(db, "BEGIN IMMEDIATE");
  try {
    detail::exec(db, kSchemaV1);
    detail::exec(db, ("PRAGMA application_id = " + std::to_string(kApplicationId)).c_str());
    detail::exec(db, ("PRAGMA user_version = " + std::to_string(kStoreSchemaVersion)).c_str());
    detail::exec(db, "INSERT INTO meta(key, value) VALUES('created_by', 'Optiscope " OPTISCOPE_VERSION "')");
    detail::exec(db, "COMMIT");
  } catch (...) {
    detail::exec(db, "ROLLBACK");
    throw;
  }
}

void migrate(sqlite3* /*db*/, int from_version) {
  if (from_version == kStoreSchemaVersion) return;
  throw StoreError("no migration from store schema version " + std::to_string(from_version));
}

}  // namespace optiscope::schema
