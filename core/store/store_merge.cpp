#include "store/store_merge.h"

#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <utility>

#include "store/schema.h"
#include "store/sqlite_statement.h"

namespace optiscope {
namespace {

using detail::exec;
using detail::rollback_if_open;
using detail::throw_sqlite;
using detail::utc_now;

std::string sql_name(const std::string& identifier) {
  std::string out = "\"";
  for (const char c : identifier) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// A statement over either connection, with the raw values a generic copy needs.
class Query {
 public:
  Query(sqlite3* db, const std::string& sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK)
      throw_sqlite(db, "prepare " + sql);
  }
  ~Query() { sqlite3_finalize(stmt_); }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw_sqlite(db_, "step");
  }
  void run() {
    while (step()) {
    }
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  void bind(int i, std::int64_t v) { check(sqlite3_bind_int64(stmt_, i, v)); }
  void bind(int i, const std::string& v) {
    check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  void bind_value(int i, sqlite3_value* v) { check(sqlite3_bind_value(stmt_, i, v)); }
  sqlite3_value* value(int c) const { return sqlite3_column_value(stmt_, c); }
  std::int64_t int64(int c) const { return sqlite3_column_int64(stmt_, c); }
  std::string text(int c) const {
    const auto* p = sqlite3_column_text(stmt_, c);
    return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p));
  }
  bool is_null(int c) const { return sqlite3_column_type(stmt_, c) == SQLITE_NULL; }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) throw_sqlite(db_, "bind");
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

struct Source {
  sqlite3* db = nullptr;
  ~Source() { sqlite3_close_v2(db); }
};

struct ForeignKey {
  std::string table;  // the table it points at
  std::string to;     // the column it points at there
};

struct TableInfo {
  std::string name;
  std::vector<std::string> columns;
  std::map<std::string, ForeignKey> foreign_keys;  // by column
  std::string run_column;                          // the column holding the run's id
};

std::vector<std::string> column_names(sqlite3* db, const std::string& schema, const std::string& table) {
  std::vector<std::string> names;
  Query q(db, "PRAGMA " + schema + ".table_info(" + sql_name(table) + ")");
  while (q.step()) names.push_back(q.text(1));
  return names;
}

TableInfo describe(sqlite3* db, const std::string& table) {
  TableInfo t;
  t.name = table;
  t.columns = column_names(db, "main", table);
  Query fk(db, "PRAGMA main.foreign_key_list(" + sql_name(table) + ")");
  while (fk.step()) {
    ForeignKey key{fk.text(2), fk.text(4)};
    if (fk.is_null(4)) {  // REFERENCES t without a column: t's primary key
      Query pk(db, "PRAGMA main.table_info(" + sql_name(key.table) + ")");
      while (pk.step())
        if (pk.int64(5) == 1) key.to = pk.text(1);
    }
    t.foreign_keys[fk.text(3)] = key;
  }
  for (const auto& c : t.columns) {
    const auto it = t.foreign_keys.find(c);
    if (c == "run_id" || (it != t.foreign_keys.end() && it->second.table == "runs")) t.run_column = c;
  }
  return t;
}

int pragma_int(sqlite3* db, const char* sql) {
  Query q(db, sql);
  return q.step() ? static_cast<int>(q.int64(0)) : 0;
}

// Maps ids of a table that a run's rows point at (kernel_names) from the source to the target,
// matching rows by their other columns and adding the rows the target lacks.
class IdRemap {
 public:
  IdRemap(sqlite3* source, sqlite3* target) : source_(source), target_(target) {}

  void bind_mapped(Query& insert, int index, const ForeignKey& fk, sqlite3_value* old_value) {
    if (sqlite3_value_type(old_value) == SQLITE_NULL) {
      insert.bind_value(index, old_value);
      return;
    }
    const std::int64_t old_id = sqlite3_value_int64(old_value);
    const auto key = std::make_pair(fk.table + "." + fk.to, old_id);
    auto it = cache_.find(key);
    if (it == cache_.end()) it = cache_.emplace(key, lookup(fk, old_id)).first;
    insert.bind(index, it->second);
  }

 private:
  std::int64_t lookup(const ForeignKey& fk, std::int64_t old_id) {
    std::vector<std::string> natural;
    for (const auto& c : column_names(source_, "main", fk.table))
      if (c != fk.to) natural.push_back(c);
    if (natural.empty()) throw StoreError("cannot remap " + fk.table + ": it has no column besides " + fk.to);
    std::string cols;
    std::string where;
    std::string marks;
    for (std::size_t i = 0; i < natural.size(); ++i) {
      cols += (i ? ", " : "") + sql_name(natural[i]);
      where += (i ? " AND " : "") + sql_name(natural[i]) + " IS ?" + std::to_string(i + 1);
      marks += (i ? ", ?" : "?") + std::to_string(i + 1);
    }
    Query src(source_,
              "SELECT " + cols + " FROM " + sql_name(fk.table) + " WHERE " + sql_name(fk.to) + " = ?1");
    src.bind(1, old_id);
    if (!src.step())
      throw StoreError("the source store's " + fk.table + " has no row " + std::to_string(old_id) +
                       " that its runs point at");
    Query find(target_, "SELECT " + sql_name(fk.to) + " FROM main." + sql_name(fk.table) + " WHERE " + where);
    for (std::size_t i = 0; i < natural.size(); ++i)
      find.bind_value(static_cast<int>(i + 1), src.value(static_cast<int>(i)));
    if (find.step()) return find.int64(0);
    Query add(target_, "INSERT INTO main." + sql_name(fk.table) + "(" + cols + ") VALUES(" + marks + ")");
    for (std::size_t i = 0; i < natural.size(); ++i)
      add.bind_value(static_cast<int>(i + 1), src.value(static_cast<int>(i)));
    add.run();
    find.reset();
    for (std::size_t i = 0; i < natural.size(); ++i)
      find.bind_value(static_cast<int>(i + 1), src.value(static_cast<int>(i)));
    if (!find.step()) throw StoreError("cannot add a row to " + fk.table + " in the target store");
    return find.int64(0);
  }

  sqlite3* source_;
  sqlite3* target_;
  std::map<std::pair<std::string, std::int64_t>, std::int64_t> cache_;
};

std::string column_list(const std::vector<std::string>& columns) {
  std::string out;
  for (std::size_t i = 0; i < columns.size(); ++i) out += (i ? ", " : "") + sql_name(columns[i]);
  return out;
}

std::string marks(std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += i ? ", ?" : "?";
  return out;
}

}  // namespace

std::vector<MergedRun> merge_store(Store& target, const std::string& source_path,
                                   const MergeOptions& options) {
  sqlite3* tdb = target.handle();
  Source src;
  if (sqlite3_open_v2(source_path.c_str(), &src.db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK)
    throw StoreError("cannot open " + source_path +
                     " to merge it: " + (src.db != nullptr ? sqlite3_errmsg(src.db) : "out of memory"));
  // The source is read the way any untrusted store is: no triggers, views or schema functions.
  sqlite3_db_config(src.db, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(src.db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  sqlite3_db_config(src.db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, nullptr);
  sqlite3_db_config(src.db, SQLITE_DBCONFIG_ENABLE_VIEW, 0, nullptr);
  sqlite3_busy_timeout(src.db, 5000);

  int app_id = 0;
  int version = 0;
  try {
    app_id = pragma_int(src.db, "PRAGMA application_id");
    version = pragma_int(src.db, "PRAGMA user_version");
  } catch (const StoreError& e) {
    throw StoreError(source_path + " is not a readable Optiscope store (" + e.what() +
                     "); nothing was merged");
  }
  if (app_id != schema::kApplicationId)
    throw StoreError(source_path + " is not an Optiscope store; nothing was merged");
  if (version != target.schema_version())
    throw StoreError("cannot merge " + source_path + ": its store schema is version " +
                     std::to_string(version) + " and the target's (" + target.path() + ") is version " +
                     std::to_string(target.schema_version()) + "; nothing was merged");

  // Every table holding rows of a run, as the source defines it.
  std::vector<TableInfo> tables;
  {
    Query q(src.db,
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY rowid");
    while (q.step()) {
      const std::string name = q.text(0);
      if (name == "runs") continue;
      TableInfo t = describe(src.db, name);
      if (!t.run_column.empty()) tables.push_back(std::move(t));
    }
  }
  const TableInfo runs = describe(src.db, "runs");
  std::vector<const TableInfo*> all{&runs};
  for (const auto& t : tables) all.push_back(&t);
  for (const auto* t : all) {
    const auto have = column_names(tdb, "main", t->name);
    for (const auto& c : t->columns)
      if (std::find(have.begin(), have.end(), c) == have.end())
        throw StoreError("cannot merge " + source_path + ": the target has no column " + t->name + "." + c +
                         "; nothing was merged");
  }

  std::vector<std::int64_t> source_ids;
  {
    Query q(src.db, "SELECT id FROM runs ORDER BY id");
    while (q.step()) source_ids.push_back(q.int64(0));
  }

  std::vector<MergedRun> merged;
  // The source is read in one read transaction too: a snapshot, whatever its writer still does.
  exec(src.db, "BEGIN");
  exec(tdb, "BEGIN IMMEDIATE");
  try {
    IdRemap remap(src.db, tdb);
    std::vector<std::string> run_columns;
    for (const auto& c : runs.columns)
      if (c != "id") run_columns.push_back(c);
    Query read_run(src.db, "SELECT " + column_list(run_columns) + " FROM runs WHERE id = ?1");
    Query insert_run(tdb, "INSERT INTO main.runs(" + column_list(run_columns) + ") VALUES(" +
                              marks(run_columns.size()) + ")");
    Query last_step(src.db, "SELECT COALESCE(MAX(step), 0) FROM steps WHERE run_id = ?1");
    Query set_outcome(
        tdb, "UPDATE main.runs SET outcome = ?1, outcome_detail = ?2, finished_at = ?3 WHERE id = ?4");
    for (const std::int64_t source_id : source_ids) {
      MergedRun m;
      m.source_run_id = source_id;
      read_run.reset();
      read_run.bind(1, source_id);
      if (!read_run.step()) continue;
      insert_run.reset();
      for (std::size_t i = 0; i < run_columns.size(); ++i) {
        const int c = static_cast<int>(i);
        if (run_columns[i] == "comparison_id") {
          insert_run.bind(c + 1, options.comparison_id);
        } else if (run_columns[i] == "ordinal") {
          insert_run.bind(c + 1, read_run.int64(c) + options.ordinal_offset);
        } else {
          if (run_columns[i] == "outcome") m.source_outcome = outcome_from_string(read_run.text(c));
          insert_run.bind_value(c + 1, read_run.value(c));
        }
      }
      insert_run.run();
      m.run_id = sqlite3_last_insert_rowid(tdb);
      if (m.source_outcome == Outcome::running && options.running_outcome) {
        set_outcome.reset();
        set_outcome.bind(1, to_string(*options.running_outcome));
        set_outcome.bind(2, options.running_detail);
        set_outcome.bind(3, utc_now());
        set_outcome.bind(4, m.run_id);
        set_outcome.run();
      }
      last_step.reset();
      last_step.bind(1, source_id);
      if (last_step.step()) m.last_step = last_step.int64(0);

      for (const auto& t : tables) {
        Query read(src.db, "SELECT " + column_list(t.columns) + " FROM " + sql_name(t.name) + " WHERE " +
                               sql_name(t.run_column) + " = ?1");
        Query insert(tdb, "INSERT INTO main." + sql_name(t.name) + "(" + column_list(t.columns) +
                              ") VALUES(" + marks(t.columns.size()) + ")");
        read.bind(1, source_id);
        while (read.step()) {
          insert.reset();
          for (std::size_t i = 0; i < t.columns.size(); ++i) {
            const int c = static_cast<int>(i);
            const auto fk = t.foreign_keys.find(t.columns[i]);
            if (t.columns[i] == t.run_column) {
              insert.bind(c + 1, m.run_id);
            } else if (fk != t.foreign_keys.end() && fk->second.table != "runs") {
              remap.bind_mapped(insert, c + 1, fk->second, read.value(c));
            } else {
              insert.bind_value(c + 1, read.value(c));
            }
          }
          insert.run();
        }
      }
      merged.push_back(m);
    }
    exec(tdb, "COMMIT");
  } catch (...) {
    rollback_if_open(tdb);
    rollback_if_open(src.db);
    throw;
  }
  rollback_if_open(src.db);  // ends the read transaction
  return merged;
}

}  // namespace optiscope
