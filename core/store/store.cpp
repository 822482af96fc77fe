#include "store/store.h"

#include <sqlite3.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <utility>

#include "store/schema.h"
#include "store/sqlite_statement.h"

namespace optiscope {

using detail::exec;
using detail::Statement;

std::string to_string(Outcome o) {
  switch (o) {
    case Outcome::running: return "running";
    case Outcome::completed: return "completed";
    case Outcome::oom: return "oom";
    case Outcome::failed: return "failed";
    case Outcome::cancelled: return "cancelled";
    case Outcome::interrupted: return "interrupted";
  }
  return "failed";
}

Outcome outcome_from_string(const std::string& text) {
  for (Outcome o : {Outcome::running, Outcome::completed, Outcome::oom, Outcome::failed, Outcome::cancelled,
                    Outcome::interrupted}) {
    if (to_string(o) == text) return o;
  }
  return Outcome::failed;
}

namespace {

std::string utc_now() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int pragma_int(sqlite3* db, const char* pragma) {
  Statement q(db, pragma);
  return q.step() ? static_cast<int>(q.int64(0)) : 0;
}

// Files from other people are untrusted: no schema-embedded SQL functions, no writes to the schema
// through the back door, no extensions. Applies to our own files too; it costs nothing.
void harden(sqlite3* db) {
  sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, nullptr);
  sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, nullptr);
  sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_VIEW, 0, nullptr);
  sqlite3_limit(db, SQLITE_LIMIT_LENGTH, 64 * 1024 * 1024);
  sqlite3_busy_timeout(db, 5000);
}

RunInfo read_run(const Statement& q) {
  RunInfo r;
  r.id = q.int64(0);
  r.comparison_id = q.int64(1);
  r.ordinal = static_cast<int>(q.int64(2));
  r.optim = q.text(3);
  r.spec_json = q.text(4);
  r.device = q.text(5);
  r.outcome = outcome_from_string(q.text(6));
  r.outcome_detail = q.text(7);
  if (!q.is_null(8)) r.oom_step = q.int64(8);
  if (!q.is_null(9)) r.oom_bytes = q.int64(9);
  r.started_at = q.text(10);
  r.finished_at = q.text(11);
  return r;
}

constexpr const char* kRunColumns =
    "SELECT id, comparison_id, ordinal, optim, spec_json, device, outcome, outcome_detail, oom_step, "
    "oom_bytes, started_at, COALESCE(finished_at, '') FROM runs ";

}  // namespace

struct Store::Impl {
  sqlite3* db = nullptr;
  std::string path;
  int version = 0;
  ~Impl() { sqlite3_close_v2(db); }
};

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;
Store::~Store() = default;

Store Store::open(const std::string& path, Mode mode) {
  const bool existed = std::filesystem::exists(path);
  if (mode == Mode::read_only && !existed) throw StoreError("no such store file: " + path);
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  const int flags = mode == Mode::read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (sqlite3_open_v2(path.c_str(), &impl->db, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK)
    throw StoreError("cannot open " + path + ": " + sqlite3_errmsg(impl->db));
  harden(impl->db);

  sqlite3* db = impl->db;
  int app_id = 0;
  int version = 0;
  int tables = 0;
  try {
    app_id = pragma_int(db, "PRAGMA application_id");
    version = pragma_int(db, "PRAGMA user_version");
    tables = pragma_int(db, "SELECT count(*) FROM sqlite_schema");
  } catch (const StoreError& e) {
    throw StoreError(path + " is not a readable Optiscope store (" + e.what() + ")");
  }
  if (tables == 0 && app_id == 0) {
    if (mode == Mode::read_only) throw StoreError(path + " is empty: it holds no Optiscope runs");
    exec(db, "PRAGMA journal_mode = WAL");
    schema::create_latest(db);
    version = kStoreSchemaVersion;
  } else if (app_id != schema::kApplicationId) {
    throw StoreError(path + " is a SQLite database but not an Optiscope store; it was left untouched");
  } else if (version > kStoreSchemaVersion) {
    throw StoreError(path + " was written by a newer Optiscope (store schema " + std::to_string(version) +
                     ", this program reads up to " + std::to_string(kStoreSchemaVersion) +
                     "); please update Optiscope. The file was left untouched");
  } else if (version < kStoreSchemaVersion) {
    if (mode == Mode::read_only)
      throw StoreError(path + " uses the older store schema " + std::to_string(version) +
                       "; open it for writing to migrate it");
    schema::migrate(db, version);
    version = kStoreSchemaVersion;
  }
  if (mode == Mode::read_write) {
    exec(db, "PRAGMA journal_mode = WAL");
    exec(db, "PRAGMA synchronous = NORMAL");
    exec(db, "PRAGMA foreign_keys = ON");
  }
  impl->version = version;
  return Store(std::move(impl));
}

const std::string& Store::path() const { return impl_->path; }
int Store::schema_version() const { return impl_->version; }
sqlite3* Store::handle() const { return impl_->db; }

std::int64_t Store::add_comparison(const std::string& name, const std::string& spec_json) {
  Statement q(impl_->db, "INSERT INTO comparisons(name, created_at, spec_json) VALUES(?, ?, ?)");
  q.bind(1, name).bind(2, utc_now()).bind(3, spec_json).run();
  return sqlite3_last_insert_rowid(impl_->db);
}

std::int64_t Store::begin_run(std::int64_t comparison_id, int ordinal, const std::string& optim,
                              const std::string& spec_json, const std::string& device) {
  Statement q(impl_->db,
              "INSERT INTO runs(comparison_id, ordinal, optim, spec_json, device, outcome, started_at) "
              "VALUES(?, ?, ?, ?, ?, 'running', ?)");
  q.bind(1, comparison_id)
      .bind(2, static_cast<std::int64_t>(ordinal))
      .bind(3, optim)
      .bind(4, spec_json)
      .bind(5, device)
      .bind(6, utc_now())
      .run();
  return sqlite3_last_insert_rowid(impl_->db);
}

void Store::append_step(std::int64_t run_id, const StepRecord& s) {
  Statement q(impl_->db,
              "INSERT INTO steps(run_id, step, loss, lr, step_ms, tokens, mem_bytes) VALUES(?, ?, ?, ?, ?, ?, ?)");
  q.bind(1, run_id).bind(2, s.step).bind(3, s.loss).bind(4, s.lr).bind(5, s.step_ms).bind(6, s.tokens);
  q.bind(7, s.mem_bytes).run();
}

void Store::finish_run(const RunInfo& r) {
  Statement q(impl_->db,
              "UPDATE runs SET outcome = ?, outcome_detail = ?, oom_step = ?, oom_bytes = ?, finished_at = ? "
              "WHERE id = ?");
  q.bind(1, to_string(r.outcome)).bind(2, r.outcome_detail);
  r.oom_step ? q.bind(3, *r.oom_step) : q.bind_null(3);
  r.oom_bytes ? q.bind(4, *r.oom_bytes) : q.bind_null(4);
  q.bind(5, utc_now()).bind(6, r.id).run();
}

std::vector<ComparisonInfo> Store::comparisons() const {
  Statement q(impl_->db, "SELECT id, name, created_at, spec_json FROM comparisons ORDER BY id");
  std::vector<ComparisonInfo> out;
  while (q.step()) out.push_back({q.int64(0), q.text(1), q.text(2), q.text(3)});
  return out;
}

std::vector<RunInfo> Store::runs() const {
  Statement q(impl_->db, (std::string(kRunColumns) + "ORDER BY comparison_id, ordinal, id").c_str());
  std::vector<RunInfo> out;
  while (q.step()) out.push_back(read_run(q));
  return out;
}

std::vector<RunInfo> Store::runs_of(std::int64_t comparison_id) const {
  Statement q(impl_->db, (std::string(kRunColumns) + "WHERE comparison_id = ? ORDER BY ordinal, id").c_str());
  q.bind(1, comparison_id);
  std::vector<RunInfo> out;
  while (q.step()) out.push_back(read_run(q));
  return out;
}

RunInfo Store::run(std::int64_t run_id) const {
  Statement q(impl_->db, (std::string(kRunColumns) + "WHERE id = ?").c_str());
  q.bind(1, run_id);
  if (!q.step()) throw StoreError("no run " + std::to_string(run_id) + " in " + impl_->path);
  return read_run(q);
}

std::vector<StepRecord> Store::steps(std::int64_t run_id, std::int64_t after_step) const {
  Statement q(impl_->db,
              "SELECT step, loss, lr, step_ms, tokens, mem_bytes FROM steps WHERE run_id = ? AND step > ? "
              "ORDER BY step");
  q.bind(1, run_id).bind(2, after_step);
  std::vector<StepRecord> out;
  while (q.step()) out.push_back({q.int64(0), q.real(1), q.real(2), q.real(3), q.int64(4), q.int64(5)});
  return out;
}

}  // namespace optiscope
