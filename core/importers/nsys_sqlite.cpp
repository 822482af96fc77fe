#include "importers/nsys_sqlite.h"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "probes/cupti_records.h"
#include "store/schema.h"
#include "store/store.h"

namespace optiscope::importers {
namespace {

using probes::UmEventKind;
using probes::UmMigrationCause;

constexpr const char* kCpuFaults = "CUDA_UM_CPU_PAGE_FAULT_EVENTS";
constexpr const char* kGpuFaults = "CUDA_UM_GPU_PAGE_FAULT_EVENTS";
constexpr const char* kMemcpy = "CUPTI_ACTIVITY_KIND_MEMCPY";
constexpr const char* kMemcpyKinds = "ENUM_CUDA_MEMCPY_OPER";

// ENUM_CUDA_MEMCPY_OPER values of the copies the unified-memory driver makes when it migrates pages.
constexpr std::int64_t kUnifiedHtoD = 11;
constexpr std::int64_t kUnifiedDtoH = 12;
constexpr std::int64_t kUnifiedDtoD = 13;

// A bound on what one import holds in memory (about 56 bytes an event).
constexpr std::size_t kMaxEvents = 20'000'000;

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// '%', '?' and '#' would end or bend the path part of a SQLite URI.
std::string uri_path(const std::string& path) {
  std::string out;
  for (const char c : std::filesystem::absolute(path).string()) {
    if (c == '%' || c == '?' || c == '#') {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out += '%';
      out += kHex[(static_cast<unsigned char>(c) >> 4) & 0xF];
      out += kHex[static_cast<unsigned char>(c) & 0xF];
    } else {
      out += c;
    }
  }
  return out;
}

class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) throw ImportError("no such file: " + path);
    char header[16] = {};
    std::ifstream in(path, std::ios::binary);
    if (!in.read(header, sizeof header) ||
        std::string(header, sizeof header) != std::string("SQLite format 3\0", 16))
      throw ImportError(path + " is not a SQLite file: export the report with 'nsys export --type sqlite'");
    // immutable=1: SQLite takes no lock and creates no journal, -wal or -shm file beside a file
    // that is someone else's; mode=ro: nothing can be written even by mistake.
    sqlite3* raw = nullptr;
    const std::string uri = "file:" + uri_path(path) + "?mode=ro&immutable=1";
    const int rc = sqlite3_open_v2(uri.c_str(), &raw,
                                   SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, nullptr);
    db_.reset(raw);
    if (rc != SQLITE_OK) throw ImportError("cannot open " + path + ": " + sqlite3_errmsg(raw));
    // Untrusted file: no schema-embedded SQL functions, no triggers or views, no extensions.
    sqlite3_db_config(raw, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
    sqlite3_db_config(raw, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
    sqlite3_db_config(raw, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, nullptr);
    sqlite3_db_config(raw, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, nullptr);
    sqlite3_db_config(raw, SQLITE_DBCONFIG_ENABLE_VIEW, 0, nullptr);
    sqlite3_limit(raw, SQLITE_LIMIT_LENGTH, 64 * 1024 * 1024);
  }

  Stmt prepare(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_.get(), sql.c_str(), -1, &s, nullptr) != SQLITE_OK) fail("cannot read");
    return Stmt(s);
  }

  bool step(sqlite3_stmt* s) {
    const int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail("cannot read");
  }

  [[noreturn]] void fail(const std::string& what) {
    throw ImportError(what + " " + path_ + ": " + sqlite3_errmsg(db_.get()) +
                      " (is it an Nsight Systems SQLite export?)");
  }

  std::int64_t application_id() {
    Stmt s = prepare("PRAGMA application_id");
    return step(s.get()) ? sqlite3_column_int64(s.get(), 0) : 0;
  }

  bool has_table(const char* table) {
    Stmt s = prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1");
    sqlite3_bind_text(s.get(), 1, table, -1, SQLITE_STATIC);
    return step(s.get());
  }

  std::set<std::string> columns(const char* table) {
    Stmt s = prepare("SELECT name FROM pragma_table_info(?1)");
    sqlite3_bind_text(s.get(), 1, table, -1, SQLITE_STATIC);
    std::set<std::string> out;
    while (step(s.get())) out.insert(reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 0)));
    return out;
  }

  void require_columns(const char* table, std::initializer_list<const char*> needed) {
    const auto have = columns(table);
    for (const char* c : needed) {
      if (have.count(c) == 0)
        throw ImportError(path_ + ": table " + table + " has no column '" + c +
                          "': this export's schema is not the one Optiscope reads (docs/importers.md)");
    }
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  Db db_;
};

class RowReader {
 public:
  RowReader(const std::string& path, const char* table, sqlite3_stmt* s)
      : path_(path), table_(table), s_(s) {}
  void next() { ++row_; }
  std::int64_t whole(int column, const char* name) const {
    if (sqlite3_column_type(s_, column) != SQLITE_INTEGER) {
      const char* text = reinterpret_cast<const char*>(sqlite3_column_text(s_, column));
      throw ImportError(path_ + ": " + table_ + " row " + std::to_string(row_) + ": " + name +
                        " must be a whole number, not " +
                        (text != nullptr ? "'" + std::string(text) + "'" : "NULL"));
    }
    return sqlite3_column_int64(s_, column);
  }
  std::int64_t non_negative(int column, const char* name) const {
    const std::int64_t v = whole(column, name);
    if (v < 0)
      throw ImportError(path_ + ": " + table_ + " row " + std::to_string(row_) + ": " + name +
                        " is negative");
    return v;
  }
  // Optional columns: NULL (or absent, selected as NULL) gives the fallback.
  std::int64_t whole_or(int column, const char* name, std::int64_t fallback) const {
    return sqlite3_column_type(s_, column) == SQLITE_NULL ? fallback : whole(column, name);
  }

 private:
  const std::string& path_;
  std::string table_;
  sqlite3_stmt* s_;
  std::int64_t row_ = 1;
};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Where the export carries its copy-kind labels, make sure 11-13 still mean unified-memory copies:
// a renumbering in a future Nsight Systems must fail loudly, not mislabel every copy.
void check_memcpy_kinds(Reader& r) {
  if (!r.has_table(kMemcpyKinds)) return;
  const auto have = r.columns(kMemcpyKinds);
  if (have.count("id") == 0) return;
  const std::string text = have.count("label") ? "label" : have.count("name") ? "name" : "";
  if (text.empty()) return;
  Stmt s = r.prepare("SELECT id, " + text + " FROM " + kMemcpyKinds + " WHERE id IN (11, 12, 13)");
  while (r.step(s.get())) {
    const char* label = reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 1));
    const std::string l = lower(label != nullptr ? label : "");
    if (l.find("unified") == std::string::npos && l.find("uvm") == std::string::npos)
      throw ImportError(
          r.path() + ": " + kMemcpyKinds + " names copy kind " +
          std::to_string(sqlite3_column_int64(s.get(), 0)) + " '" + (label ? label : "") +
          "', not a unified-memory copy: this export numbers copy kinds differently from the ones "
          "Optiscope reads (docs/importers.md)");
  }
}

void check_size(const NsysUmData& d, const std::string& path) {
  if (d.events.size() > kMaxEvents)
    throw ImportError(path + " has more than " + std::to_string(kMaxEvents) +
                      " unified-memory events: export a shorter time range (nsys export does not cut; record "
                      "fewer steps or use --duration)");
}

}  // namespace

NsysUmData read_nsys_sqlite(const std::string& path) {
  Reader r(path);
  NsysUmData d;
  d.source_path = path;
  if (r.application_id() == schema::kApplicationId)
    throw ImportError(path + " is an Optiscope store, not an Nsight Systems export");

  const bool cpu = r.has_table(kCpuFaults);
  const bool gpu = r.has_table(kGpuFaults);
  const bool copies = r.has_table(kMemcpy);
  if (!cpu && !gpu && !copies)
    throw ImportError(path + " has none of the tables " + kCpuFaults + ", " + kGpuFaults + " or " + kMemcpy +
                      ": record with CUDA trace on (nsys profile --trace=cuda, and "
                      "--cuda-um-cpu-page-faults=true --cuda-um-gpu-page-faults=true for faults), then "
                      "nsys export --type sqlite");

  if (cpu) {
    r.require_columns(kCpuFaults, {"start", "address"});
    d.tables_read.emplace_back(kCpuFaults);
    Stmt s = r.prepare(std::string("SELECT start, address FROM ") + kCpuFaults);
    RowReader row(path, kCpuFaults, s.get());
    for (; r.step(s.get()); row.next()) {
      UmEventRow e;
      e.kind = static_cast<int>(UmEventKind::cpu_page_fault);
      e.start_ns = row.non_negative(0, "start");
      e.end_ns = e.start_ns;  // a CPU fault has no duration in the export
      e.value = 0;            // counted by records: the program counter is not a count
      e.address = row.whole(1, "address");
      d.events.push_back(e);
      ++d.cpu_faults;
      check_size(d, path);
    }
  }
  if (gpu) {
    r.require_columns(kGpuFaults, {"start", "end", "address", "numberOfPageFaults"});
    d.tables_read.emplace_back(kGpuFaults);
    Stmt s = r.prepare(std::string("SELECT start, end, address, numberOfPageFaults FROM ") + kGpuFaults);
    RowReader row(path, kGpuFaults, s.get());
    for (; r.step(s.get()); row.next()) {
      UmEventRow e;
      e.kind = static_cast<int>(UmEventKind::gpu_page_fault_group);
      e.start_ns = row.non_negative(0, "start");
      e.end_ns = row.non_negative(1, "end");
      e.address = row.whole(2, "address");
      e.value = row.non_negative(3, "numberOfPageFaults");
      if (e.end_ns < e.start_ns) {
        e.end_ns = e.start_ns;
        ++d.reordered_timestamps;
      }
      d.events.push_back(e);
      ++d.gpu_fault_records;
      d.gpu_faults += e.value;
      check_size(d, path);
    }
  }
  if (copies) {
    r.require_columns(kMemcpy, {"start", "end", "bytes", "copyKind"});
    check_memcpy_kinds(r);
    const auto have = r.columns(kMemcpy);
    // Older exports lack migrationCause and virtualAddress: cause unknown, address 0.
    const std::string cause = have.count("migrationCause") ? "migrationCause" : "NULL";
    const std::string address = have.count("virtualAddress") ? "virtualAddress" : "NULL";
    Stmt s = r.prepare("SELECT start, end, bytes, copyKind, " + cause + ", " + address + " FROM " + kMemcpy +
                       " WHERE copyKind IN (11, 12, 13)");
    RowReader row(path, kMemcpy, s.get());
    for (; r.step(s.get()); row.next()) {
      UmEventRow e;
      e.start_ns = row.non_negative(0, "start");
      e.end_ns = row.non_negative(1, "end");
      e.value = row.non_negative(2, "bytes");
      const std::int64_t kind = row.whole(3, "copyKind");
      e.kind = static_cast<int>(kind == kUnifiedHtoD   ? UmEventKind::bytes_htod
                                : kind == kUnifiedDtoH ? UmEventKind::bytes_dtoh
                                                       : UmEventKind::bytes_dtod);
      const std::int64_t c = row.whole_or(4, "migrationCause", 0);
      e.cause = c >= 0 && c <= static_cast<std::int64_t>(UmMigrationCause::access_counters)
                    ? static_cast<int>(c)
                    : 0;
      e.address = row.whole_or(5, "virtualAddress", 0);
      if (e.end_ns < e.start_ns) {
        e.end_ns = e.start_ns;
        ++d.reordered_timestamps;
      }
      (kind == kUnifiedHtoD ? d.htod_bytes : kind == kUnifiedDtoH ? d.dtoh_bytes : d.dtod_bytes) += e.value;
      ++d.transfers;
      d.events.push_back(e);
      check_size(d, path);
    }
    Stmt other =
        r.prepare(std::string("SELECT count(*) FROM ") + kMemcpy + " WHERE copyKind NOT IN (11, 12, 13)");
    if (r.step(other.get())) d.other_copies = sqlite3_column_int64(other.get(), 0);
    d.tables_read.emplace_back(kMemcpy);
  }
  if (d.events.empty())
    throw ImportError(
        path + " holds no unified-memory events (" + std::to_string(d.other_copies) +
        " explicit copies, which are not paging): nothing to import. Page faults are recorded only "
        "with --cuda-um-cpu-page-faults=true / --cuda-um-gpu-page-faults=true");

  if (r.has_table("TARGET_INFO_GPU") && r.columns("TARGET_INFO_GPU").count("name") != 0) {
    Stmt s = r.prepare("SELECT name FROM TARGET_INFO_GPU WHERE name IS NOT NULL LIMIT 1");
    if (r.step(s.get())) d.gpu_name = reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 0));
  }
  std::stable_sort(d.events.begin(), d.events.end(),
                   [](const UmEventRow& a, const UmEventRow& b) { return a.start_ns < b.start_ns; });
  return d;
}

namespace {

// The Store writes events only through append_bundle, which opens its own transaction and so
// cannot join the import's; until it can, the rows go in here, inside the import's transaction,
// numbered on from the run's last seq as the Store numbers them. The columns are those of schema 2
// (docs/store-schema.md); the tests read them back through Store::um_events, so a schema change
// that this misses fails them.
void insert_events(Store& store, std::int64_t run_id, const std::vector<UmEventRow>& events) {
  sqlite3* db = store.handle();
  const auto prepare = [db](const char* sql) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK)
      throw StoreError(std::string("cannot write paging events: ") + sqlite3_errmsg(db));
    return Stmt(raw);
  };
  std::int64_t seq = 0;
  {
    const Stmt next = prepare("SELECT COALESCE(max(seq) + 1, 0) FROM um_events WHERE run_id = ?");
    sqlite3_bind_int64(next.get(), 1, run_id);
    if (sqlite3_step(next.get()) == SQLITE_ROW) seq = sqlite3_column_int64(next.get(), 0);
  }
  const Stmt insert = prepare(
      "INSERT INTO um_events(run_id, seq, step, kind, cause, start_ns, end_ns, value, address) "
      "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
  sqlite3_stmt* q = insert.get();
  for (const auto& e : events) {
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, run_id);
    sqlite3_bind_int64(q, 2, seq++);
    sqlite3_bind_int64(q, 3, e.step);
    sqlite3_bind_int64(q, 4, e.kind);
    sqlite3_bind_int64(q, 5, e.cause);
    sqlite3_bind_int64(q, 6, e.start_ns);
    sqlite3_bind_int64(q, 7, e.end_ns);
    sqlite3_bind_int64(q, 8, e.value);
    sqlite3_bind_int64(q, 9, e.address);
    if (sqlite3_step(q) != SQLITE_DONE)
      throw StoreError(std::string("cannot write paging events: ") + sqlite3_errmsg(db));
  }
}

std::string mib(std::int64_t bytes) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(1);
  s << static_cast<double>(bytes) / (1024.0 * 1024.0) << " MiB";
  return s.str();
}

}  // namespace

ImportResult write_nsys_events(Store& store, const NsysUmData& data, const NsysImportOptions& options) {
  if (data.events.empty()) throw ImportError("no unified-memory events to import");
  const std::string optim = options.optim.empty() ? std::string("unknown") : options.optim;
  if (!plausible_optim_name(optim))
    throw ImportError("'" + optim +
                      "' is not an optimizer name (letters, digits, '_', '-', '.'; at most 64)");
  const std::string label =
      data.source_path.empty() ? std::string("nsys export") : file_label(data.source_path);
  const std::string source_note = "paging events imported from the Nsight Systems export " + label;

  ImportResult result;
  WriteTransaction tx(store);
  if (options.run_id) {
    RunInfo run;
    try {
      run = store.run(*options.run_id);
    } catch (const StoreError&) {
      throw ImportError("no run " + std::to_string(*options.run_id) + " in " + store.path() +
                        " (optiscope-cli list shows the runs)");
    }
    if (const auto n = store.um_event_count(run.id); n > 0)
      throw ImportError("run " + std::to_string(run.id) + " already has " + std::to_string(n) +
                        " paging events; import into a new run instead (leave out --run)");
    result.comparison_id = run.comparison_id;
    result.run_id = run.id;
    insert_events(store, run.id, data.events);
    CaptureInfo info = store.capture(run.id).value_or(CaptureInfo{});
    info.um_counters = true;
    info.note = info.note.empty() ? source_note : info.note + "; " + source_note;
    store.set_capture(run.id, info);
  } else {
    const std::string name = options.name.empty() ? "Nsight Systems: " + label : options.name;
    const std::string spec = "{\n  \"imported_from\": \"nsys_sqlite\",\n  \"optims\": [\"" + optim + "\"]\n}";
    result.comparison_id = store.add_comparison(name, spec);
    // Not a RunSpec on purpose: the export does not say what trained; a reader shows the summary.
    std::string run_spec =
        "{\n  \"imported_from\": \"nsys_sqlite\",\n  \"optim\": \"" + optim + "\",\n  \"gpu\": \"";
    for (const char c : data.gpu_name)
      if (c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20) run_spec += c;
    run_spec += "\"\n}";
    result.run_id = store.begin_run(result.comparison_id, 0, optim, run_spec, "imported");
    result.created_run = true;
    insert_events(store, result.run_id, data.events);
    CaptureInfo info;
    info.um_counters = true;
    info.note = source_note;
    store.set_capture(result.run_id, info);
    RunInfo finished;
    finished.id = result.run_id;
    finished.outcome = Outcome::completed;
    store.finish_run(finished);
  }
  tx.commit();

  std::ostringstream s;
  s << "imported " << label
    << (result.created_run ? " as comparison " + std::to_string(result.comparison_id) + "," : " into")
    << " run " << result.run_id << (result.created_run ? " (" + optim + ", device imported)" : "") << "\n";
  s << "  " << data.events.size() << " paging events from " << data.tables_read.size() << " tables";
  if (!data.gpu_name.empty()) s << " (" << data.gpu_name << ")";
  s << "\n  migrations: " << data.transfers << " records, host to device " << mib(data.htod_bytes)
    << ", device to host " << mib(data.dtoh_bytes);
  if (data.dtod_bytes) s << ", device to device " << mib(data.dtod_bytes);
  s << "\n  page faults: " << data.cpu_faults << " CPU, " << data.gpu_faults << " GPU (in "
    << data.gpu_fault_records << " records)\n";
  if (data.other_copies) s << "  " << data.other_copies << " explicit copies (not paging) left out\n";
  if (data.reordered_timestamps)
    s << "  " << data.reordered_timestamps << " events ended before they started: end set to start\n";
  s << "  steps: none (Nsight's clock is not Optiscope's); the events are stored with step -1\n";
  result.summary = s.str();
  return result;
}

}  // namespace optiscope::importers
