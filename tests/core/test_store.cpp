#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "store/schema.h"
#include "store/store.h"

namespace fs = std::filesystem;
using optiscope::Outcome;
using optiscope::Store;
using optiscope::StoreError;

namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("optiscope-store-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

TEST_F(StoreTest, RoundTripsComparisonsRunsAndSteps) {
  const auto db = path("a.db");
  std::int64_t run_id = 0;
  {
    Store s = Store::open(db, Store::Mode::read_write);
    EXPECT_EQ(s.schema_version(), optiscope::kStoreSchemaVersion);
    const auto cid = s.add_comparison("cmp", "{\"x\":1}");
    run_id = s.begin_run(cid, 0, "adamw_8bit", "{}", "cpu");
    for (int i = 1; i <= 100; ++i) s.append_step(run_id, {i, 5.0 - i * 0.01, 1e-3, 2.5, 1024, 4096 + i});
    auto info = s.run(run_id);
    info.outcome = Outcome::oom;
    info.outcome_detail = "CUDA out of memory";
    info.oom_step = 101;
    info.oom_bytes = 123456789;
    s.finish_run(info);
  }
  const Store r = Store::open(db, Store::Mode::read_only);
  ASSERT_EQ(r.comparisons().size(), 1u);
  EXPECT_EQ(r.comparisons()[0].name, "cmp");
  const auto runs = r.runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].optim, "adamw_8bit");
  EXPECT_EQ(runs[0].outcome, Outcome::oom);
  EXPECT_EQ(runs[0].oom_step.value_or(-1), 101);
  EXPECT_EQ(runs[0].oom_bytes.value_or(-1), 123456789);
  EXPECT_FALSE(runs[0].finished_at.empty());
  const auto steps = r.steps(run_id);
  ASSERT_EQ(steps.size(), 100u);
  EXPECT_EQ(steps[41].step, 42);
  EXPECT_DOUBLE_EQ(steps[41].loss, 5.0 - 42 * 0.01);
  EXPECT_EQ(steps[41].mem_bytes, 4096 + 42);
  EXPECT_EQ(r.steps(run_id, 90).size(), 10u) << "steps after a given step, for live views";
}

TEST_F(StoreTest, RefusesAFileFromANewerSchemaAndLeavesItAlone) {
  const auto db = path("new.db");
  { Store::open(db, Store::Mode::read_write); }
  {
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(h, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(h);
  }
  const auto before = slurp(db);
  try {
    Store::open(db, Store::Mode::read_write);
    FAIL() << "a newer store must be refused";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("newer Optiscope"), std::string::npos) << e.what();
  }
  EXPECT_EQ(slurp(db), before);
}

TEST_F(StoreTest, RefusesForeignSqliteDatabases) {
  const auto db = path("foreign.db");
  {
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(h, "CREATE TABLE t(x); INSERT INTO t VALUES(1);", nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(h);
  }
  const auto before = slurp(db);
  EXPECT_THROW(Store::open(db, Store::Mode::read_write), StoreError);
  EXPECT_THROW(Store::open(db, Store::Mode::read_only), StoreError);
  EXPECT_EQ(slurp(db), before);
}

TEST_F(StoreTest, RefusesFilesThatAreNotSqlite) {
  const auto db = path("text.db");
  { std::ofstream(db) << "hello, this is not a database, but it is long enough to look like one........"; }
  const auto before = slurp(db);
  EXPECT_THROW(Store::open(db, Store::Mode::read_write), StoreError);
  EXPECT_EQ(slurp(db), before);
}

TEST_F(StoreTest, ReadOnlyDoesNotCreateFiles) {
  EXPECT_THROW(Store::open(path("missing.db"), Store::Mode::read_only), StoreError);
  EXPECT_FALSE(fs::exists(path("missing.db")));
}

TEST_F(StoreTest, OutcomeNamesRoundTrip) {
  for (Outcome o : {Outcome::running, Outcome::completed, Outcome::oom, Outcome::failed, Outcome::cancelled,
                    Outcome::interrupted, Outcome::over_budget})
    EXPECT_EQ(optiscope::outcome_from_string(optiscope::to_string(o)), o);
  EXPECT_EQ(optiscope::outcome_from_string("nonsense"), Outcome::failed);
}

TEST_F(StoreTest, MigratesAVersion1FileAndKeepsItsRuns) {
  const auto db = path("v1.db");
  {
    // A version-1 store as the walking skeleton wrote it.
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(h, optiscope::schema::schema_v1_sql(), nullptr, nullptr, nullptr), SQLITE_OK);
    const std::string fill =
        "PRAGMA application_id = " + std::to_string(optiscope::schema::kApplicationId) +
        "; PRAGMA user_version = 1;"
        "INSERT INTO comparisons VALUES(1, 'old', '2026-11-01T00:00:00Z', '{}');"
        "INSERT INTO runs(id, comparison_id, ordinal, optim, spec_json, device, outcome, started_at) "
        "VALUES(1, 1, 0, 'adamw_torch', '{}', 'cpu', 'completed', '2026-11-01T00:00:00Z');"
        "INSERT INTO steps VALUES(1, 1, 5.5, 0.001, 10.0, 1024, 2048);"
        "INSERT INTO steps VALUES(1, 2, 5.0, 0.001, 10.0, 1024, 2048);";
    ASSERT_EQ(sqlite3_exec(h, fill.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(h);
  }
  EXPECT_THROW(Store::open(db, Store::Mode::read_only), StoreError) << "read-only never migrates";
  {
    Store s = Store::open(db, Store::Mode::read_write);
    EXPECT_EQ(s.schema_version(), optiscope::kStoreSchemaVersion);
    const auto steps = s.steps(1);
    ASSERT_EQ(steps.size(), 2u);
    EXPECT_DOUBLE_EQ(steps[1].loss, 5.0);
    EXPECT_FALSE(steps[1].forward_ms.has_value()) << "columns added by the migration are empty";
    EXPECT_TRUE(s.memory_samples(1).empty());
  }
  const Store r = Store::open(db, Store::Mode::read_only);
  EXPECT_EQ(r.schema_version(), optiscope::kStoreSchemaVersion);
  EXPECT_EQ(r.runs().size(), 1u);
}

TEST_F(StoreTest, MigratesAVersion2FileWhoseOtherMemoryStillHoldsTheContext) {
  const auto db = path("v2.db");
  {
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(h, optiscope::schema::schema_v1_sql(), nullptr, nullptr, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(h, optiscope::schema::migration_v1_to_v2_sql(), nullptr, nullptr, nullptr),
              SQLITE_OK);
    const std::string fill =
        "PRAGMA application_id = " + std::to_string(optiscope::schema::kApplicationId) +
        "; PRAGMA user_version = 2;"
        "INSERT INTO comparisons VALUES(1, 'old', '2026-11-01T00:00:00Z', '{}');"
        "INSERT INTO runs(id, comparison_id, ordinal, optim, spec_json, device, outcome, started_at) "
        "VALUES(1, 1, 0, 'paged_adamw_8bit', '{}', 'gpu', 'completed', '2026-11-01T00:00:00Z');"
        "INSERT INTO memory_samples VALUES(1, 1, 2, 1, 100, 100, 0, 50, 150, 0, 7, 3, 530);"
        "INSERT INTO paging_steps VALUES(1, 1, 1000, 500, 900, 500, 3, 0, 0, 0);";
    ASSERT_EQ(sqlite3_exec(h, fill.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(h);
  }
  Store s = Store::open(db, Store::Mode::read_write);
  EXPECT_EQ(s.schema_version(), optiscope::kStoreSchemaVersion);
  const auto mem = s.memory_samples(1);
  ASSERT_EQ(mem.size(), 1u);
  EXPECT_EQ(mem[0].context, 0);
  EXPECT_EQ(mem[0].driver_cache, 0);
  EXPECT_EQ(mem[0].device_total(), 100 + 100 + 50 + 7 + 3 + 530) << "version 2's other kept the context";
  const auto paging = s.paging_steps(1);
  ASSERT_EQ(paging.size(), 1u);
  EXPECT_FALSE(paging[0].measured_resident.has_value()) << "a version-2 run measured no residency";
  EXPECT_FALSE(paging[0].ledger_disagreement().has_value());
  EXPECT_EQ(s.run(1).outcome, Outcome::completed);
  EXPECT_FALSE(s.run(1).over_budget_step.has_value());
}

TEST_F(StoreTest, MigratesAVersion3FileIntoRankZero) {
  const auto db = path("v3.db");
  {
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
    for (const char* sql : {optiscope::schema::schema_v1_sql(), optiscope::schema::migration_v1_to_v2_sql(),
                            optiscope::schema::migration_v2_to_v3_sql()})
      ASSERT_EQ(sqlite3_exec(h, sql, nullptr, nullptr, nullptr), SQLITE_OK);
    const std::string fill =
        "PRAGMA application_id = " + std::to_string(optiscope::schema::kApplicationId) +
        "; PRAGMA user_version = 3;"
        "INSERT INTO comparisons VALUES(1, 'old', '2026-12-01T00:00:00Z', '{}');"
        "INSERT INTO runs(id, comparison_id, ordinal, optim, spec_json, device, outcome, started_at) "
        "VALUES(1, 1, 0, 'adamw_8bit', '{}', 'gpu', 'completed', '2026-12-01T00:00:00Z');"
        "INSERT INTO steps(run_id, step, loss, lr, step_ms, tokens, mem_bytes) VALUES(1, 1, 4.0, 0.001, 9.0, "
        "64, 900);"
        "INSERT INTO memory_samples(run_id, step, phase, point, parameters, gradients, optimizer_device, "
        "optimizer_paged_resident, optimizer_paged_host, optimizer_pinned_host, activations, "
        "allocator_cache, "
        "other_device, context, driver_cache) VALUES(1, 1, 2, 1, 100, 100, 25, 0, 0, 0, 7, 3, 11, 500, 0);";
    ASSERT_EQ(sqlite3_exec(h, fill.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(h);
  }
  EXPECT_THROW(Store::open(db, Store::Mode::read_only), optiscope::StoreNeedsMigration);
  Store s = Store::open(db, Store::Mode::read_write);
  EXPECT_EQ(s.schema_version(), optiscope::kStoreSchemaVersion);
  const auto mem = s.memory_samples(1);
  ASSERT_EQ(mem.size(), 1u) << "the rebuilt table keeps every sample";
  EXPECT_EQ(mem[0].rank, 0);
  EXPECT_EQ(mem[0].optimizer_device, 25);
  EXPECT_EQ(mem[0].context, 500);
  EXPECT_TRUE(s.memory_samples(1, 0, 1).empty()) << "a one-process run has no rank 1";
  EXPECT_TRUE(s.rank_steps(1).empty());
  const auto r = s.run(1);
  EXPECT_EQ(r.world_size, 1);
  EXPECT_EQ(r.zero_stage, 0);
  const auto steps = s.steps(1);
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_FALSE(steps[0].comm_ms.has_value());
  EXPECT_FALSE(steps[0].comm_bytes.has_value());
}

TEST_F(StoreTest, RanksOfAShardedRunRoundTrip) {
  const auto db = path("ranks.db");
  Store s = Store::open(db, Store::Mode::read_write);
  const auto run = s.begin_run(s.add_comparison("c", "{}"), 0, "adamw_8bit", "{}", "cpu");
  s.set_run_ranks(run, 2, 2);
  for (std::int64_t step = 1; step <= 2; ++step) {
    optiscope::StepBundle b;
    b.step = optiscope::StepRecord{step, 3.5, 1e-3, 20.0, 256, 4000};
    b.step->comm_ms = 4.5;
    b.step->comm_bytes = 123456;
    for (int rank = 0; rank < 2; ++rank) {
      for (auto phase : {optiscope::Phase::optimizer, optiscope::Phase::communication}) {
        optiscope::MemorySample m;
        m.step = step;
        m.rank = rank;
        m.phase = phase;
        m.point = optiscope::SamplePoint::peak;
        m.parameters = 1000;
        m.optimizer_device = 250 + rank;  // each rank's own shard
        b.memory.push_back(m);
      }
      optiscope::RankStep r;
      r.step = step;
      r.rank = rank;
      r.step_ms = 20.0 + rank;
      r.comm_ms = 4.5 + rank;
      r.comm_bytes = 123456 + rank;
      r.loss = 3.4 + 0.2 * rank;
      r.mem_bytes = 4000 + rank;
      b.ranks.push_back(r);
    }
    s.append_bundle(run, b);
  }
  const auto info = s.run(run);
  EXPECT_EQ(info.world_size, 2);
  EXPECT_EQ(info.zero_stage, 2);
  const auto rank1 = s.memory_samples(run, 0, 1);
  ASSERT_EQ(rank1.size(), 4u);
  EXPECT_EQ(rank1[0].rank, 1);
  EXPECT_EQ(rank1[0].optimizer_device, 251);
  EXPECT_EQ(rank1[1].phase, optiscope::Phase::communication);
  EXPECT_EQ(s.memory_samples(run).size(), 4u) << "rank 0's alone by default";
  EXPECT_EQ(s.memory_samples(run, 1, 1).size(), 2u) << "after_step applies per rank";
  const auto ranks = s.rank_steps(run);
  ASSERT_EQ(ranks.size(), 4u);
  EXPECT_EQ(ranks[1].step, 1);
  EXPECT_EQ(ranks[1].rank, 1);
  EXPECT_DOUBLE_EQ(ranks[1].comm_ms, 5.5);
  EXPECT_EQ(ranks[1].comm_bytes, 123457);
  EXPECT_DOUBLE_EQ(ranks[1].loss, 3.6);
  EXPECT_EQ(s.rank_steps(run, 1).size(), 2u);
  const auto steps = s.steps(run);
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_DOUBLE_EQ(steps[0].comm_ms.value_or(-1), 4.5);
  EXPECT_EQ(steps[0].comm_bytes.value_or(-1), 123456);
}

TEST_F(StoreTest, MemoryTruthFieldsRoundTrip) {
  const auto db = path("truth.db");
  Store s = Store::open(db, Store::Mode::read_write);
  const auto run = s.begin_run(s.add_comparison("c", "{}"), 0, "paged_adamw_32bit", "{}", "gpu");
  optiscope::StepBundle b;
  b.step = optiscope::StepRecord{1, 4.2, 1e-5, 100.0, 2048, 1 << 30};
  optiscope::MemorySample m;
  m.step = 1;
  m.parameters = 1000;
  m.optimizer_paged_resident = 400;
  m.context = 500;
  m.driver_cache = 9000;
  m.other_device = 11;
  b.memory.push_back(m);
  optiscope::PagingStep p{1, 800, 400, 800, 400, 0, 0, 0, 0};
  p.ledger_resident = 400;
  p.measured_resident = 404;
  p.measured_resident_peak = 800;
  p.disagreeing_allocations = 1;
  b.paging.push_back(p);
  s.append_bundle(run, b);
  auto info = s.run(run);
  info.outcome = Outcome::over_budget;
  info.over_budget_step = 1;
  info.over_budget_bytes = 1911;
  s.finish_run(info);

  const auto mem = s.memory_samples(run).at(0);
  EXPECT_EQ(mem.context, 500);
  EXPECT_EQ(mem.driver_cache, 9000);
  EXPECT_EQ(mem.demand(), 1000 + 400 + 500) << "demand: reserved + paged resident + context";
  EXPECT_EQ(mem.device_total(), 1000 + 400 + 500 + 11) << "the driver's cache is in no total";
  const auto paging = s.paging_steps(run).at(0);
  EXPECT_EQ(paging.ledger_resident, 400);
  EXPECT_EQ(paging.measured_resident.value_or(-1), 404);
  EXPECT_EQ(paging.measured_resident_peak.value_or(-1), 800);
  EXPECT_EQ(paging.disagreeing_allocations, 1);
  EXPECT_NEAR(paging.ledger_disagreement().value_or(-1), 0.01, 1e-12);
  const auto r = s.run(run);
  EXPECT_EQ(r.outcome, Outcome::over_budget);
  EXPECT_EQ(r.over_budget_step.value_or(-1), 1);
  EXPECT_EQ(r.over_budget_bytes.value_or(-1), 1911);
}

TEST_F(StoreTest, StepBundlesRoundTripInOneTransaction) {
  const auto db = path("bundle.db");
  Store s = Store::open(db, Store::Mode::read_write);
  const auto run = s.begin_run(s.add_comparison("c", "{}"), 0, "paged_adamw_8bit", "{}", "gpu");
  optiscope::StepBundle b;
  b.step = optiscope::StepRecord{1, 4.2, 1e-5, 100.0, 2048, 1 << 30};
  b.step->forward_ms = 30.0;
  b.step->backward_ms = 60.0;
  b.step->optimizer_ms = 10.0;
  optiscope::MemorySample m;
  m.step = 1;
  m.phase = optiscope::Phase::optimizer;
  m.point = optiscope::SamplePoint::peak;
  m.parameters = 100;
  m.gradients = 100;
  m.optimizer_paged_resident = 50;
  m.optimizer_paged_host = 150;
  m.activations = 7;
  b.memory.push_back(m);
  b.paging.push_back(optiscope::PagingStep{1, 1000, 500, 900, 500, 3, 0, 0, 0});
  for (int i = 0; i < 100; ++i) b.um_events.push_back({1, 0, 3, i * 10, i * 10 + 5, 4096, 0x1000 * i});
  b.kernels.push_back({1, "adamw8bit", 0, 1000000, 7});
  b.kernels.push_back({1, "adamw8bit", 2000000, 2500000, 7});
  b.memcpys.push_back({1, 1, 4096, 0, 10});
  s.append_bundle(run, b);
  s.set_capture(run, {true, true, true, "all captured", 0});

  EXPECT_EQ(s.steps(run).at(0).optimizer_ms.value_or(-1), 10.0);
  const auto mem = s.memory_samples(run);
  ASSERT_EQ(mem.size(), 1u);
  EXPECT_EQ(mem[0].optimizer_paged_host, 150);
  EXPECT_EQ(mem[0].device_total(), 100 + 100 + 50 + 7);
  const auto paging = s.paging_steps(run);
  ASSERT_EQ(paging.size(), 1u);
  EXPECT_DOUBLE_EQ(paging[0].completeness(), 1400.0 / 1500.0);
  EXPECT_EQ(s.um_event_count(run), 100);
  EXPECT_EQ(s.um_events(run)[42].address, 0x1000 * 42);
  const auto k = s.kernel_summary(run);
  ASSERT_EQ(k.size(), 1u);
  EXPECT_EQ(k[0].count, 2);
  EXPECT_DOUBLE_EQ(k[0].busy_ms, 1.5);
  ASSERT_TRUE(s.capture(run).has_value());
  EXPECT_EQ(s.capture(run)->note, "all captured");

  // A failing bundle leaves nothing behind: the same step again violates the primary key.
  EXPECT_THROW(s.append_bundle(run, b), StoreError);
  EXPECT_EQ(s.um_event_count(run), 100);
}

TEST_F(StoreTest, ARunWhoseWriterDiedIsInterrupted) {
  const auto db = path("killed.db");
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    Store s = Store::open(db, Store::Mode::read_write);
    const auto run = s.begin_run(s.add_comparison("c", "{}"), 0, "adamw_torch", "{}", "cpu");
    for (int i = 1; i <= 5; ++i) s.append_step(run, {i, 1.0, 1e-3, 1.0, 10, 10});
    ::kill(::getpid(), SIGKILL);  // dies mid-run, as a crashed or killed recording does
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  {
    const Store r = Store::open(db, Store::Mode::read_only);
    ASSERT_EQ(r.runs().size(), 1u);
    EXPECT_EQ(r.runs()[0].outcome, Outcome::interrupted) << "read-only views tell the truth too";
    EXPECT_EQ(r.steps(r.runs()[0].id).size(), 5u) << "every committed step survives";
  }
  Store w = Store::open(db, Store::Mode::read_write);
  EXPECT_EQ(w.runs()[0].outcome, Outcome::interrupted);
  sqlite3* h = w.handle();
  sqlite3_stmt* q = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(h, "SELECT outcome FROM runs", -1, &q, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(q, 0)), "interrupted") << "written back";
  sqlite3_finalize(q);
}

TEST_F(StoreTest, ARunningWriterIsNotInterrupted) {
  const auto db = path("live.db");
  Store w = Store::open(db, Store::Mode::read_write);
  const auto run = w.begin_run(w.add_comparison("c", "{}"), 0, "adamw_torch", "{}", "cpu");
  w.append_step(run, {1, 1.0, 1e-3, 1.0, 10, 10});
  const Store r = Store::open(db, Store::Mode::read_only);
  EXPECT_EQ(r.runs()[0].outcome, Outcome::running);
  EXPECT_EQ(r.steps(run).size(), 1u) << "a reader sees what the writer committed";
}

TEST_F(StoreTest, ReadOnlyOpenOfAnOlderStoreAsksForMigration) {
  const auto db = path("old.db");
  {
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(h, optiscope::schema::schema_v1_sql(), nullptr, nullptr, nullptr), SQLITE_OK);
    const std::string v = "PRAGMA application_id = " + std::to_string(optiscope::schema::kApplicationId) +
                          "; PRAGMA user_version = 1;";
    ASSERT_EQ(sqlite3_exec(h, v.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(h);
  }
  try {
    Store::open(db, Store::Mode::read_only);
    FAIL() << "expected StoreNeedsMigration";
  } catch (const optiscope::StoreNeedsMigration& e) {
    EXPECT_EQ(e.version(), 1);
  }
  Store::migrate(db);
  EXPECT_EQ(Store::open(db, Store::Mode::read_only).schema_version(), optiscope::kStoreSchemaVersion);
}
