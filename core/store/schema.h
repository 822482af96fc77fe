#pragma once
// Schema creation and migration. Each version's DDL is kept so an older file can be walked
// forward one version at a time (docs/store-schema.md documents every version).
#include <cstdint>

struct sqlite3;

namespace optiscope::schema {

/// 'OPTS': marks a SQLite file as an Optiscope store (PRAGMA application_id).
inline constexpr std::int32_t kApplicationId = 0x4F505453;

/// Creates the newest schema in an empty database.
void create_latest(sqlite3* db);
/// Migrates from `from_version` to the newest, inside one transaction.
void migrate(sqlite3* db, int from_version);
/// The version-1 DDL, kept so tests can make a version-1 file and watch it migrate.
const char* schema_v1_sql();
/// The version 1 -> 2 DDL, so tests can make a version-2 file.
const char* migration_v1_to_v2_sql();
/// The version 2 -> 3 DDL, so tests can make a version-3 file.
const char* migration_v2_to_v3_sql();

}  // namespace optiscope::schema
