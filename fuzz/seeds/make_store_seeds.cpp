// Writes the seed stores of the store_reader fuzz target (fuzz/corpus/store_reader): small files
// that reach every reading path, with 512-byte pages so that mutations land on structure rather
// than on padding. Run by hand when the schema changes:
//   ninja -C build/default optiscope_make_fuzz_seeds &&
//   build/default/tests/reliability/optiscope_make_fuzz_seeds fuzz/corpus/store_reader
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "store/schema.h"
#include "store/store.h"

namespace {

using namespace optiscope;

void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::fprintf(stderr, "%s: %s\n", sql.c_str(), err != nullptr ? err : "?");
    std::exit(1);
  }
}

// Rewrites a store with 512-byte pages and a rollback journal (no -wal beside it): one small file.
void compact(const std::string& path) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  exec(db, "PRAGMA journal_mode = DELETE; PRAGMA page_size = 512; VACUUM;");
  sqlite3_close(db);
}

pid_t dead_pid() {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  int st = 0;
  waitpid(pid, &st, 0);
  return pid;
}

void full_store(const std::string& path) {
  Store s = Store::open(path, Store::Mode::read_write);
  const auto cid = s.add_comparison("seed", R"({"name":"seed","optims":["adamw_torch","paged_adamw_8bit"]})");
  for (int i = 0; i < 2; ++i) {
    const auto run =
        s.begin_run(cid, i, i == 0 ? "adamw_torch" : "paged_adamw_8bit", R"({"max_steps":3})", "cpu");
    s.set_capture(run, CaptureInfo{true, true, false, "memcpy capture off", 2});
    for (int step = 1; step <= 3; ++step) {
      StepBundle b;
      StepRecord r{step, 4.0 - step * 0.1, 1e-3, 12.5, 1024, 1 << 20};
      r.forward_ms = 3.0;
      r.eval_loss = 3.9;
      b.step = r;
      MemorySample m;
      m.step = step;
      m.phase = Phase::optimizer;
      m.point = SamplePoint::peak;
      m.parameters = 1000;
      m.optimizer_paged_host = 500;
      b.memory.push_back(m);
      b.paging.push_back(PagingStep{step, 4096, 2048, 4096, 1024, 3, 1, 0, 0});
      b.um_events.push_back(UmEventRow{step, 1, 2, 100, 200, 4096, 0x7f0000000000});
      b.kernels.push_back(KernelRow{step, "adamw_8bit_blockwise", 100, 180, 7});
      b.memcpys.push_back(MemcpyRow{step, 1, 65536, 120, 140});
      s.append_bundle(run, b);
    }
    RunInfo info = s.run(run);
    info.outcome = i == 0 ? Outcome::completed : Outcome::oom;
    if (i == 1) {
      info.oom_step = 3;
      info.oom_bytes = 123456;
      info.outcome_detail = "CUDA out of memory";
    }
    s.finish_run(info);
  }
}

void running_store(const std::string& path) {
  {
    Store s = Store::open(path, Store::Mode::read_write);
    const auto cid = s.add_comparison("interrupted", "{}");
    const auto run = s.begin_run(cid, 0, "adamw_torch", "{}", "cpu");
    s.append_step(run, StepRecord{1, 3.0, 1e-3, 10.0, 64, 4096});
  }
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  // A writer that is gone, on this host: a writable open marks the run interrupted.
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  exec(db, "UPDATE runs SET writer_pid = " + std::to_string(dead_pid()) + ", writer_host = '" + host + "'");
  sqlite3_close(db);
}

void version1_store(const std::string& path) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  exec(db, schema::schema_v1_sql());
  exec(db,
       "PRAGMA application_id = " + std::to_string(schema::kApplicationId) + "; PRAGMA user_version = 1;");
  exec(db,
       "INSERT INTO comparisons VALUES(1, 'v1', '2026-01-01T00:00:00Z', '{}');"
       "INSERT INTO runs VALUES(1, 1, 0, 'adamw_8bit', '{}', 'cpu', 'completed', '', NULL, NULL, '', NULL);"
       "INSERT INTO steps VALUES(1, 1, 2.5, 0.001, 3.0, 64, 1000);");
  sqlite3_close(db);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_FOLDER\n", argv[0]);
    return 2;
  }
  const std::filesystem::path out(argv[1]);
  std::filesystem::create_directories(out);
  const std::pair<const char*, void (*)(const std::string&)> seeds[] = {
      {"full.db", full_store}, {"running.db", running_store}, {"version1.db", version1_store}};
  for (const auto& [name, make] : seeds) {
    const auto path = (out / name).string();
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(path + suffix);
    make(path);
    compact(path);
    std::printf("%s: %ju bytes\n", path.c_str(),
                static_cast<std::uintmax_t>(std::filesystem::file_size(path)));
  }
  return 0;
}
