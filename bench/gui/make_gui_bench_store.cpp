// Writes the GUI benchmark's store: 4 runs x 100 000 steps (loss, phase times, memory by
// category, paging counts) and 1 000 000 unified-memory events, like a long paged comparison.
//
//   optiscope_gui_bench_store OUT.db [steps_per_run] [um_events]
//
// The Store API creates the schema and the runs; the rows go in through prepared statements in
// one transaction per table and run, which takes seconds instead of the minutes that one
// transaction per step would.
#include <sqlite3.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "spec/run_spec.h"
#include "store/store.h"

namespace {

void check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
    std::exit(1);
  }
}

sqlite3_stmt* prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* s = nullptr;
  check(sqlite3_prepare_v2(db, sql, -1, &s, nullptr), db, sql);
  return s;
}

void run(sqlite3_stmt* s, sqlite3* db) {
  check(sqlite3_step(s), db, "insert");
  sqlite3_reset(s);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s OUT.db [steps_per_run] [um_events]\n", argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  const long steps = argc > 2 ? std::atol(argv[2]) : 100000;
  const long events = argc > 3 ? std::atol(argv[3]) : 1000000;
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);

  using namespace optiscope;
  Store store = Store::open(path, Store::Mode::read_write);
  ComparisonSpec spec;
  spec.name = "gui benchmark: 4 x " + std::to_string(steps) + " steps";
  spec.base.model = "llama-3.2-1b";
  spec.base.device = "cuda";
  spec.base.device_budget_bytes = 24LL << 30;
  spec.optims = {"adamw_torch", "adamw_8bit", "paged_adamw_32bit", "paged_adamw_8bit"};
  const auto comparison = store.add_comparison(spec.name, to_json(spec));
  sqlite3* db = store.handle();
  sqlite3_stmt* step =
      prepare(db,
              "INSERT INTO steps(run_id, step, loss, lr, step_ms, tokens, mem_bytes, forward_ms, "
              "backward_ms, optimizer_ms) VALUES(?,?,?,?,?,?,?,?,?,?)");
  sqlite3_stmt* mem = prepare(db, "INSERT INTO memory_samples VALUES(?,?,2,1,?,?,?,?,?,0,?,?,?)");
  sqlite3_stmt* paging = prepare(db, "INSERT INTO paging_steps VALUES(?,?,?,?,?,?,?,?,0,0)");
  sqlite3_stmt* um =
      prepare(db,
              "INSERT INTO um_events(run_id, seq, step, kind, cause, start_ns, end_ns, value, address) "
              "VALUES(?,?,?,?,?,?,?,?,?)");
  const long perRun = events / 4;
  int ordinal = 0;
  for (const auto& optim : spec.optims) {
    RunSpec rs = spec.base;
    rs.optim = optim;
    const auto id = store.begin_run(comparison, ordinal, optim, to_json(rs), "NVIDIA H100 80GB HBM3");
    const bool paged = optim.rfind("paged_", 0) == 0;
    const long long state = optim.find("8bit") != std::string::npos ? (2LL << 30) : (9LL << 30);
    check(sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), db, "begin");
    for (long s = 1; s <= steps; ++s) {
      const double x = static_cast<double>(s);
      const double loss =
          1.1 + 0.02 * ordinal + 2.2 * std::exp(-x / 9000.0) + 0.08 * std::sin(x * 0.37 + ordinal);
      sqlite3_bind_int64(step, 1, id);
      sqlite3_bind_int64(step, 2, s);
      sqlite3_bind_double(step, 3, loss);
      sqlite3_bind_double(step, 4, 2e-5);
      sqlite3_bind_double(step, 5, 70.0 + 5 * std::sin(x * 0.01) + (paged ? 8 : 0));
      sqlite3_bind_int64(step, 6, 2048);
      sqlite3_bind_int64(step, 7, 12LL << 30);
      sqlite3_bind_double(step, 8, 21.0);
      sqlite3_bind_double(step, 9, 42.0);
      sqlite3_bind_double(step, 10, paged ? 15.0 : 7.0);
      run(step, db);
      const long long resident = paged ? state / 2 : 0;
      const long long v[] = {id,
                             s,
                             2300LL << 20,
                             2300LL << 20,
                             paged ? 0 : state,
                             resident,
                             paged ? state - resident : 0,
                             static_cast<long long>((6.5 + 0.3 * std::sin(x * 0.5)) * (1LL << 30)),
                             900LL << 20,
                             530LL << 20};
      for (int i = 0; i < 10; ++i) sqlite3_bind_int64(mem, i + 1, v[i]);
      run(mem, db);
      if (paged) {
        const long long p[] = {id, s, 64LL << 20, 64LL << 20, (s % 7 ? 64LL : 20LL) << 20, 64LL << 20, 40, 2};
        for (int i = 0; i < 8; ++i) sqlite3_bind_int64(paging, i + 1, p[i]);
        run(paging, db);
      }
    }
    for (long e = 0; e < perRun; ++e) {
      const long long row[] = {id,
                               e,
                               1 + e * steps / perRun,
                               e % 2,
                               e % 3 == 0 ? 4 : 2,
                               e * 1000,
                               e * 1000 + 500,
                               2LL << 20,
                               0x7f0000000000LL + e * 4096};
      for (int i = 0; i < 9; ++i) sqlite3_bind_int64(um, i + 1, row[i]);
      run(um, db);
    }
    check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");
    RunInfo info = store.run(id);
    info.outcome = Outcome::completed;
    store.finish_run(info);
    ++ordinal;
  }
  for (auto* s : {step, mem, paging, um}) sqlite3_finalize(s);
  std::printf("%s: 4 runs x %ld steps, %ld um events\n", path.c_str(), steps, events);
  return 0;
}
