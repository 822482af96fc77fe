#include "store/store.h"

#include <sqlite3.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <map>
#include <memory>
#include <utility>

#include "store/schema.h"
#include "store/sqlite_statement.h"

namespace optiscope {

using detail::exec;
using detail::rollback_if_open;
using detail::Statement;
using detail::utc_now;

std::string to_string(Outcome o) {
  switch (o) {
    case Outcome::running:
      return "running";
    case Outcome::completed:
      return "completed";
    case Outcome::oom:
      return "oom";
    case Outcome::failed:
      return "failed";
    case Outcome::cancelled:
      return "cancelled";
    case Outcome::interrupted:
      return "interrupted";
    case Outcome::over_budget:
      return "over_budget";
  }
  return "failed";
}

Outcome outcome_from_string(const std::string& text) {
  for (Outcome o : {Outcome::running, Outcome::completed, Outcome::oom, Outcome::failed, Outcome::cancelled,
                    Outcome::interrupted, Outcome::over_budget}) {
    if (to_string(o) == text) return o;
  }
  return Outcome::failed;
}

namespace {

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

std::string this_host() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

// A run still marked running is interrupted when the process that wrote it is gone. Only runs
// written on this host can be checked; others keep their mark until their own host opens them.
bool writer_gone(std::int64_t pid, const std::string& host) {
  if (pid <= 0 || host != this_host()) return false;
  if (pid == static_cast<std::int64_t>(getpid())) return false;
  return kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) { exec(db_, "BEGIN IMMEDIATE"); }
  void commit() {
    exec(db_, "COMMIT");
    done_ = true;
  }
  ~Transaction() {
    if (!done_) rollback_if_open(db_);
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

 private:
  sqlite3* db_;
  bool done_ = false;
};

void mark_interrupted(sqlite3* db) {
  std::vector<std::int64_t> gone;
  {
    Statement q(
        db,
        "SELECT id, COALESCE(writer_pid, 0), COALESCE(writer_host, '') FROM runs WHERE outcome = 'running'");
    while (q.step())
      if (writer_gone(q.int64(1), q.text(2))) gone.push_back(q.int64(0));
  }
  if (gone.empty()) return;
  // One transaction for all of them: an auto-committed update each took seconds for 200 k runs.
  Transaction tx(db);
  Statement u(
      db,
      "UPDATE runs SET outcome = 'interrupted', outcome_detail = 'the recording process ended without "
      "finishing this run; every step it committed is kept', finished_at = NULL WHERE id = ?");
  for (const auto id : gone) {
    u.reset();
    u.bind(1, id).run();
  }
  tx.commit();
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
  if (!q.is_null(14)) r.over_budget_step = q.int64(14);
  if (!q.is_null(15)) r.over_budget_bytes = q.int64(15);
  r.world_size = static_cast<int>(q.int64(16));
  r.zero_stage = static_cast<int>(q.int64(17));
  // Read-only views cannot rewrite the mark, but they can tell the truth about it.
  if (r.outcome == Outcome::running && writer_gone(q.int64(12), q.text(13))) {
    r.outcome = Outcome::interrupted;
    r.outcome_detail = "the recording process ended without finishing this run";
  }
  return r;
}

constexpr const char* kRunColumns =
    "SELECT id, comparison_id, ordinal, optim, spec_json, device, outcome, outcome_detail, oom_step, "
    "oom_bytes, started_at, COALESCE(finished_at, ''), COALESCE(writer_pid, 0), COALESCE(writer_host, ''), "
    "over_budget_step, over_budget_bytes, world_size, zero_stage FROM runs ";

}  // namespace

struct Store::Impl {
  sqlite3* db = nullptr;
  std::string path;
  int version = 0;
  // Prepared once, reused for every step: ingest is dominated by statement preparation otherwise.
  std::map<std::string, std::unique_ptr<Statement>> cached;
  std::map<std::string, std::int64_t> kernel_name_ids;
  std::map<std::int64_t, std::int64_t> next_event_seq;  // per run

  Statement& statement(const char* sql) {
    auto& slot = cached[sql];
    if (!slot) slot = std::make_unique<Statement>(db, sql);
    slot->reset();
    return *slot;
  }
  bool writable = false;
  ~Impl() {
    cached.clear();
    // Folds the write-ahead log back into the file, so copying the .db alone takes everything.
    if (writable) sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
    sqlite3_close_v2(db);
  }
};

namespace {

void bind_optional(Statement& q, int index, const std::optional<double>& v) {
  v ? q.bind(index, *v) : q.bind_null(index);
}

std::optional<double> optional_real(const Statement& q, int column) {
  return q.is_null(column) ? std::nullopt : std::optional<double>(q.real(column));
}

constexpr const char* kInsertStep =
    "INSERT INTO steps(run_id, step, loss, lr, step_ms, tokens, mem_bytes, forward_ms, backward_ms, "
    "optimizer_ms, "
    "eval_loss, comm_ms, comm_bytes) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

}  // namespace

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;
Store::~Store() = default;

Store Store::open(const std::string& path, Mode mode) {
  const bool existed = std::filesystem::exists(path);
  if (mode == Mode::read_only && !existed) throw StoreError("no such store file: " + path);
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  const int flags =
      mode == Mode::read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
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
    // Larger pages: event tables of millions of rows need fewer B-tree levels and splits.
    exec(db, "PRAGMA page_size = 16384");
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
      throw StoreNeedsMigration(path + " uses the older store schema " + std::to_string(version) +
                                    "; it must be upgraded to schema " + std::to_string(kStoreSchemaVersion) +
                                    " before it can be read (its data is kept)",
                                version);
    schema::migrate(db, version);
    version = kStoreSchemaVersion;
  }
  if (mode == Mode::read_write) {
    exec(db, "PRAGMA journal_mode = WAL");
    exec(db, "PRAGMA synchronous = NORMAL");
    exec(db, "PRAGMA cache_size = -65536");  // 64 MiB: a step's events stay in cache until commit
    exec(db, "PRAGMA foreign_keys = ON");
    impl->writable = true;
    mark_interrupted(db);
  }
  impl->version = version;
  return Store(std::move(impl));
}

void Store::migrate(const std::string& path) {
  Store::open(path, Mode::read_write);
}

const std::string& Store::path() const {
  return impl_->path;
}
int Store::schema_version() const {
  return impl_->version;
}
sqlite3* Store::handle() const {
  return impl_->db;
}

std::int64_t Store::add_comparison(const std::string& name, const std::string& spec_json) {
  Statement q(impl_->db, "INSERT INTO comparisons(name, created_at, spec_json) VALUES(?, ?, ?)");
  q.bind(1, name).bind(2, utc_now()).bind(3, spec_json).run();
  return sqlite3_last_insert_rowid(impl_->db);
}

std::int64_t Store::begin_run(std::int64_t comparison_id, int ordinal, const std::string& optim,
                              const std::string& spec_json, const std::string& device) {
  Statement q(
      impl_->db,
      "INSERT INTO runs(comparison_id, ordinal, optim, spec_json, device, outcome, started_at, writer_pid, "
      "writer_host) VALUES(?, ?, ?, ?, ?, 'running', ?, ?, ?)");
  q.bind(1, comparison_id)
      .bind(2, static_cast<std::int64_t>(ordinal))
      .bind(3, optim)
      .bind(4, spec_json)
      .bind(5, device)
      .bind(6, utc_now())
      .bind(7, static_cast<std::int64_t>(getpid()))
      .bind(8, this_host())
      .run();
  return sqlite3_last_insert_rowid(impl_->db);
}

namespace {

void insert_step(Statement& q, std::int64_t run_id, const StepRecord& s) {
  q.bind(1, run_id).bind(2, s.step).bind(3, s.loss).bind(4, s.lr).bind(5, s.step_ms).bind(6, s.tokens);
  q.bind(7, s.mem_bytes);
  bind_optional(q, 8, s.forward_ms);
  bind_optional(q, 9, s.backward_ms);
  bind_optional(q, 10, s.optimizer_ms);
  bind_optional(q, 11, s.eval_loss);
  bind_optional(q, 12, s.comm_ms);
  s.comm_bytes ? q.bind(13, *s.comm_bytes) : q.bind_null(13);
  q.run();
}

}  // namespace

namespace {

// Events go in 64 rows per statement: per-statement overhead, not SQLite's B-tree, dominated the
// ingest of single-row inserts (0.38 M events/s against 1 M/s wanted).
constexpr int kEventsPerInsert = 64;

std::string multi_row_insert(int rows) {
  std::string sql =
      "INSERT INTO um_events(run_id, seq, step, kind, cause, start_ns, end_ns, value, address) VALUES";
  for (int i = 0; i < rows; ++i) sql += i == 0 ? "(?,?,?,?,?,?,?,?,?)" : ",(?,?,?,?,?,?,?,?,?)";
  return sql;
}

}  // namespace

void insert_um_events(Store::Impl& impl, std::int64_t run_id, const std::vector<UmEventRow>& events) {
  if (events.empty()) return;
  static const std::string full = multi_row_insert(kEventsPerInsert);
  static const std::string single = multi_row_insert(1);
  auto seq_it = impl.next_event_seq.find(run_id);
  if (seq_it == impl.next_event_seq.end()) {
    auto& q = impl.statement("SELECT COALESCE(max(seq) + 1, 0) FROM um_events WHERE run_id = ?");
    q.bind(1, run_id);
    seq_it = impl.next_event_seq.emplace(run_id, q.step() ? q.int64(0) : 0).first;
    q.reset();
  }
  std::int64_t& seq = seq_it->second;
  auto bind_row = [&](Statement& q, int o, const UmEventRow& e) {
    q.bind(o + 1, run_id)
        .bind(o + 2, seq++)
        .bind(o + 3, e.step)
        .bind(o + 4, static_cast<std::int64_t>(e.kind));
    q.bind(o + 5, static_cast<std::int64_t>(e.cause)).bind(o + 6, e.start_ns).bind(o + 7, e.end_ns);
    q.bind(o + 8, e.value).bind(o + 9, e.address);
  };
  std::size_t i = 0;
  for (; i + kEventsPerInsert <= events.size(); i += kEventsPerInsert) {
    auto& q = impl.statement(full.c_str());
    for (int r = 0; r < kEventsPerInsert; ++r) bind_row(q, r * 9, events[i + static_cast<std::size_t>(r)]);
    q.run();
  }
  for (; i < events.size(); ++i) {
    auto& q = impl.statement(single.c_str());
    bind_row(q, 0, events[i]);
    q.run();
  }
}

void Store::append_step(std::int64_t run_id, const StepRecord& s) {
  insert_step(impl_->statement(kInsertStep), run_id, s);
}

void Store::append_bundle(std::int64_t run_id, const StepBundle& b) {
  Transaction tx(impl_->db);
  if (b.step) insert_step(impl_->statement(kInsertStep), run_id, *b.step);
  for (const auto& m : b.memory) {
    auto& q = impl_->statement(
        "INSERT OR REPLACE INTO memory_samples(run_id, step, phase, point, parameters, gradients, "
        "optimizer_device, "
        "optimizer_paged_resident, optimizer_paged_host, optimizer_pinned_host, activations, "
        "allocator_cache, "
        "other_device, context, driver_cache, rank) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    q.bind(1, run_id)
        .bind(2, m.step)
        .bind(3, static_cast<std::int64_t>(m.phase))
        .bind(4, static_cast<std::int64_t>(m.point));
    q.bind(5, m.parameters)
        .bind(6, m.gradients)
        .bind(7, m.optimizer_device)
        .bind(8, m.optimizer_paged_resident);
    q.bind(9, m.optimizer_paged_host).bind(10, m.optimizer_pinned_host).bind(11, m.activations);
    q.bind(12, m.allocator_cache).bind(13, m.other_device).bind(14, m.context).bind(15, m.driver_cache);
    q.bind(16, static_cast<std::int64_t>(m.rank)).run();
  }
  for (const auto& r : b.ranks) {
    auto& q = impl_->statement(
        "INSERT OR REPLACE INTO rank_steps(run_id, step, rank, step_ms, forward_ms, backward_ms, "
        "optimizer_ms, "
        "comm_ms, comm_bytes, loss, mem_bytes) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    q.bind(1, run_id).bind(2, r.step).bind(3, static_cast<std::int64_t>(r.rank)).bind(4, r.step_ms);
    q.bind(5, r.forward_ms)
        .bind(6, r.backward_ms)
        .bind(7, r.optimizer_ms)
        .bind(8, r.comm_ms)
        .bind(9, r.comm_bytes);
    q.bind(10, r.loss).bind(11, r.mem_bytes).run();
  }
  for (const auto& p : b.paging) {
    auto& q = impl_->statement(
        "INSERT OR REPLACE INTO paging_steps(run_id, step, manager_htod, manager_dtoh, recorded_htod, "
        "recorded_dtoh, "
        "gpu_faults, cpu_faults, thrashing, throttling, ledger_resident, measured_resident, "
        "measured_resident_peak, "
        "disagreeing_allocations) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    q.bind(1, run_id)
        .bind(2, p.step)
        .bind(3, p.manager_htod)
        .bind(4, p.manager_dtoh)
        .bind(5, p.recorded_htod);
    q.bind(6, p.recorded_dtoh)
        .bind(7, p.gpu_faults)
        .bind(8, p.cpu_faults)
        .bind(9, p.thrashing)
        .bind(10, p.throttling);
    q.bind(11, p.ledger_resident);
    p.measured_resident ? q.bind(12, *p.measured_resident) : q.bind_null(12);
    p.measured_resident_peak ? q.bind(13, *p.measured_resident_peak) : q.bind_null(13);
    q.bind(14, p.disagreeing_allocations).run();
  }
  insert_um_events(*impl_, run_id, b.um_events);
  // Kernels are aggregated per (step, name) before they reach SQLite; late launches of a step
  // already written add to its row.
  struct Agg {
    std::int64_t launches = 0, total_ns = 0, first_ns = 0, last_ns = 0;
  };
  std::map<std::pair<std::int64_t, std::string>, Agg> kernels;
  for (const auto& k : b.kernels) {
    Agg& a = kernels[{k.step, k.name}];
    if (a.launches == 0 || k.start_ns < a.first_ns) a.first_ns = k.start_ns;
    a.last_ns = std::max(a.last_ns, k.end_ns);
    a.launches += 1;
    a.total_ns += k.end_ns - k.start_ns;
  }
  for (const auto& [key, a] : kernels) {
    const auto& name = key.second;
    auto id = impl_->kernel_name_ids.find(name);
    if (id == impl_->kernel_name_ids.end()) {
      auto& ins = impl_->statement("INSERT OR IGNORE INTO kernel_names(name) VALUES(?)");
      ins.bind(1, name).run();
      auto& sel = impl_->statement("SELECT id FROM kernel_names WHERE name = ?");
      sel.bind(1, name);
      if (!sel.step()) throw StoreError("kernel name was not stored");
      id = impl_->kernel_name_ids.emplace(name, sel.int64(0)).first;
      sel.reset();
    }
    auto& q = impl_->statement(
        "INSERT INTO kernel_stats(run_id, step, name_id, launches, total_ns, first_ns, last_ns) VALUES(?, ?, "
        "?, ?, ?, ?, ?) "
        "ON CONFLICT(run_id, step, name_id) DO UPDATE SET launches = launches + excluded.launches, "
        "total_ns = total_ns + excluded.total_ns, first_ns = min(first_ns, excluded.first_ns), "
        "last_ns = max(last_ns, excluded.last_ns)");
    q.bind(1, run_id).bind(2, key.first).bind(3, id->second).bind(4, a.launches).bind(5, a.total_ns);
    q.bind(6, a.first_ns).bind(7, a.last_ns).run();
  }
  for (const auto& c : b.memcpys) {
    auto& q = impl_->statement(
        "INSERT INTO memcpys(run_id, step, kind, bytes, start_ns, end_ns) VALUES(?, ?, ?, ?, ?, ?)");
    q.bind(1, run_id)
        .bind(2, c.step)
        .bind(3, static_cast<std::int64_t>(c.kind))
        .bind(4, c.bytes)
        .bind(5, c.start_ns);
    q.bind(6, c.end_ns).run();
  }
  tx.commit();
}

void Store::set_capture(std::int64_t run_id, const CaptureInfo& c) {
  auto& q = impl_->statement(
      "INSERT OR REPLACE INTO captures(run_id, um_counters, kernels, memcpy, note, dropped_records) "
      "VALUES(?, ?, ?, ?, ?, ?)");
  q.bind(1, run_id)
      .bind(2, static_cast<std::int64_t>(c.um_counters))
      .bind(3, static_cast<std::int64_t>(c.kernels));
  q.bind(4, static_cast<std::int64_t>(c.memcpy)).bind(5, c.note).bind(6, c.dropped_records).run();
}

std::optional<CaptureInfo> Store::capture(std::int64_t run_id) const {
  auto& q = impl_->statement(
      "SELECT um_counters, kernels, memcpy, note, dropped_records FROM captures WHERE run_id = ?");
  q.bind(1, run_id);
  if (!q.step()) return std::nullopt;
  CaptureInfo info{q.int64(0) != 0, q.int64(1) != 0, q.int64(2) != 0, q.text(3), q.int64(4)};
  q.reset();  // a statement left mid-result would pin this connection's read snapshot
  return info;
}

std::vector<RankStep> Store::rank_steps(std::int64_t run_id, std::int64_t after_step) const {
  auto& q = impl_->statement(
      "SELECT step, rank, step_ms, forward_ms, backward_ms, optimizer_ms, comm_ms, comm_bytes, loss, "
      "mem_bytes "
      "FROM rank_steps WHERE run_id = ? AND step > ? ORDER BY step, rank");
  q.bind(1, run_id).bind(2, after_step);
  std::vector<RankStep> out;
  while (q.step()) {
    RankStep r;
    r.step = q.int64(0);
    r.rank = static_cast<int>(q.int64(1));
    r.step_ms = q.real(2);
    r.forward_ms = q.real(3);
    r.backward_ms = q.real(4);
    r.optimizer_ms = q.real(5);
    r.comm_ms = q.real(6);
    r.comm_bytes = q.int64(7);
    r.loss = q.real(8);
    r.mem_bytes = q.int64(9);
    out.push_back(r);
  }
  return out;
}

void Store::set_run_ranks(std::int64_t run_id, int world_size, int zero_stage) {
  Statement q(impl_->db, "UPDATE runs SET world_size = ?, zero_stage = ? WHERE id = ?");
  q.bind(1, static_cast<std::int64_t>(world_size))
      .bind(2, static_cast<std::int64_t>(zero_stage))
      .bind(3, run_id)
      .run();
}

std::vector<MemorySample> Store::memory_samples(std::int64_t run_id, std::int64_t after_step,
                                                int rank) const {
  auto& q = impl_->statement(
      "SELECT step, phase, point, parameters, gradients, optimizer_device, optimizer_paged_resident, "
      "optimizer_paged_host, optimizer_pinned_host, activations, allocator_cache, other_device, context, "
      "driver_cache "
      "FROM memory_samples "
      "WHERE run_id = ? AND rank = ? AND step > ? ORDER BY step, phase, point");
  q.bind(1, run_id).bind(2, static_cast<std::int64_t>(rank)).bind(3, after_step);
  std::vector<MemorySample> out;
  while (q.step()) {
    MemorySample m;
    m.rank = rank;
    m.step = q.int64(0);
    m.phase = static_cast<Phase>(q.int64(1));
    m.point = static_cast<SamplePoint>(q.int64(2));
    m.parameters = q.int64(3);
    m.gradients = q.int64(4);
    m.optimizer_device = q.int64(5);
    m.optimizer_paged_resident = q.int64(6);
    m.optimizer_paged_host = q.int64(7);
    m.optimizer_pinned_host = q.int64(8);
    m.activations = q.int64(9);
    m.allocator_cache = q.int64(10);
    m.other_device = q.int64(11);
    m.context = q.int64(12);
    m.driver_cache = q.int64(13);
    out.push_back(m);
  }
  return out;
}

std::vector<PagingStep> Store::paging_steps(std::int64_t run_id, std::int64_t after_step) const {
  auto& q = impl_->statement(
      "SELECT step, manager_htod, manager_dtoh, recorded_htod, recorded_dtoh, gpu_faults, cpu_faults, "
      "thrashing, "
      "throttling, ledger_resident, measured_resident, measured_resident_peak, disagreeing_allocations FROM "
      "paging_steps "
      "WHERE run_id = ? AND step > ? ORDER BY step");
  q.bind(1, run_id).bind(2, after_step);
  std::vector<PagingStep> out;
  while (q.step()) {
    PagingStep p{q.int64(0), q.int64(1), q.int64(2), q.int64(3), q.int64(4),
                 q.int64(5), q.int64(6), q.int64(7), q.int64(8)};
    p.ledger_resident = q.int64(9);
    if (!q.is_null(10)) p.measured_resident = q.int64(10);
    if (!q.is_null(11)) p.measured_resident_peak = q.int64(11);
    p.disagreeing_allocations = q.int64(12);
    out.push_back(p);
  }
  return out;
}

std::vector<UmEventRow> Store::um_events(std::int64_t run_id) const {
  auto& q = impl_->statement(
      "SELECT step, kind, cause, start_ns, end_ns, value, address FROM um_events WHERE run_id = ? ORDER BY "
      "seq");
  q.bind(1, run_id);
  std::vector<UmEventRow> out;
  while (q.step())
    out.push_back({q.int64(0), static_cast<int>(q.int64(1)), static_cast<int>(q.int64(2)), q.int64(3),
                   q.int64(4), q.int64(5), q.int64(6)});
  return out;
}

std::int64_t Store::um_event_count(std::int64_t run_id) const {
  auto& q = impl_->statement("SELECT count(*) FROM um_events WHERE run_id = ?");
  q.bind(1, run_id);
  const std::int64_t n = q.step() ? q.int64(0) : 0;
  q.reset();
  return n;
}

std::vector<Store::KernelStepSummary> Store::kernel_summary(std::int64_t run_id) const {
  auto& q = impl_->statement(
      "SELECT step, sum(launches), sum(total_ns) / 1e6 FROM kernel_stats WHERE run_id = ? GROUP BY step "
      "ORDER BY step");
  q.bind(1, run_id);
  std::vector<KernelStepSummary> out;
  while (q.step()) out.push_back({q.int64(0), q.int64(1), q.real(2)});
  return out;
}

void Store::finish_run(const RunInfo& r) {
  Statement q(
      impl_->db,
      "UPDATE runs SET outcome = ?, outcome_detail = ?, oom_step = ?, oom_bytes = ?, finished_at = ?, "
      "over_budget_step = ?, over_budget_bytes = ? WHERE id = ?");
  q.bind(1, to_string(r.outcome)).bind(2, r.outcome_detail);
  r.oom_step ? q.bind(3, *r.oom_step) : q.bind_null(3);
  r.oom_bytes ? q.bind(4, *r.oom_bytes) : q.bind_null(4);
  q.bind(5, utc_now());
  r.over_budget_step ? q.bind(6, *r.over_budget_step) : q.bind_null(6);
  r.over_budget_bytes ? q.bind(7, *r.over_budget_bytes) : q.bind_null(7);
  q.bind(8, r.id).run();
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
  auto& q = impl_->statement(
      "SELECT step, loss, lr, step_ms, tokens, mem_bytes, forward_ms, backward_ms, optimizer_ms, eval_loss, "
      "comm_ms, "
      "comm_bytes FROM steps "
      "WHERE run_id = ? AND step > ? ORDER BY step");
  q.bind(1, run_id).bind(2, after_step);
  std::vector<StepRecord> out;
  while (q.step()) {
    StepRecord r{q.int64(0), q.real(1), q.real(2), q.real(3), q.int64(4), q.int64(5)};
    r.forward_ms = optional_real(q, 6);
    r.backward_ms = optional_real(q, 7);
    r.optimizer_ms = optional_real(q, 8);
    r.eval_loss = optional_real(q, 9);
    r.comm_ms = optional_real(q, 10);
    if (!q.is_null(11)) r.comm_bytes = q.int64(11);
    out.push_back(r);
  }
  return out;
}

}  // namespace optiscope
