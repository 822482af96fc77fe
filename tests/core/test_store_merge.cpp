#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "store/store.h"
#include "store/store_merge.h"

namespace fs = std::filesystem;
using optiscope::MergeOptions;
using optiscope::Outcome;
using optiscope::Store;
using optiscope::StoreError;

namespace {

class MergeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("optiscope-merge-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

void sql(sqlite3* db, const std::string& text) {
  char* error = nullptr;
  ASSERT_EQ(sqlite3_exec(db, text.c_str(), nullptr, nullptr, &error), SQLITE_OK) << (error ? error : "");
}

std::int64_t count(sqlite3* db, const std::string& query) {
  sqlite3_stmt* q = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, query.c_str(), -1, &q, nullptr), SQLITE_OK) << query;
  const std::int64_t n = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
  sqlite3_finalize(q);
  return n;
}

// A worker's store: one run with a row in every per-run table, its kernels named in its own order.
std::int64_t record_worker_run(const std::string& db, const std::string& optim, std::int64_t steps,
                               const std::string& first_kernel, Outcome outcome) {
  Store s = Store::open(db, Store::Mode::read_write);
  const auto run =
      s.begin_run(s.add_comparison("worker", "{}"), 0, optim, "{\"optim\":\"" + optim + "\"}", "cpu");
  s.set_capture(run, {true, true, false, "captured", 3});
  s.set_run_ranks(run, 2, 1);
  for (std::int64_t i = 1; i <= steps; ++i) {
    optiscope::StepBundle b;
    b.step = optiscope::StepRecord{i, 5.0 - 0.1 * static_cast<double>(i), 1e-3, 10.0, 128, 4096};
    b.step->eval_loss = 4.5;
    optiscope::MemorySample m;
    m.step = i;
    m.parameters = 100 * i;
    m.context = 7;
    b.memory.push_back(m);
    b.paging.push_back(optiscope::PagingStep{i, 10, 20, 10, 20, 1, 0, 0, 0});
    b.paging.back().measured_resident = 5;
    b.um_events.push_back({i, 1, 2, 100 * i, 100 * i + 5, 4096, 0x1000});
    b.kernels.push_back({i, first_kernel, 0, 1000, 7});
    b.kernels.push_back({i, "shared_kernel", 2000, 2500, 7});
    b.memcpys.push_back({i, 1, 4096, 0, 10});
    // Schema 4: two ranks, each with its own samples and its own view of the step.
    optiscope::MemorySample m1 = m;
    m1.rank = 1;
    m1.parameters = 50 * i;
    b.memory.push_back(m1);
    for (int rank = 0; rank < 2; ++rank) {
      optiscope::RankStep rs;
      rs.step = i;
      rs.rank = rank;
      rs.comm_ms = 1.5 + rank;
      rs.comm_bytes = 1000 * (rank + 1);
      rs.loss = 4.0 + rank;
      b.ranks.push_back(rs);
    }
    s.append_bundle(run, b);
  }
  if (outcome != Outcome::running) {
    auto info = s.run(run);
    info.outcome = outcome;
    info.outcome_detail = outcome == Outcome::failed ? "boom" : "";
    s.finish_run(info);
  }
  return run;
}

}  // namespace

TEST_F(MergeTest, CopiesEveryTableOfARunUnderTheTargetComparison) {
  const auto a = path("a.db");
  const auto b = path("b.db");
  record_worker_run(a, "adamw_torch", 3, "only_in_a", Outcome::completed);
  record_worker_run(b, "adamw_8bit", 2, "only_in_b", Outcome::failed);

  Store target = Store::open(path("target.db"), Store::Mode::read_write);
  // The target already knows a kernel, under an id the workers use for something else.
  sql(target.handle(), "INSERT INTO kernel_names(name) VALUES('shared_kernel')");
  const auto comparison = target.add_comparison("sweep lr=0.001", "{}");
  const auto ma = optiscope::merge_store(target, a, MergeOptions{comparison, 0, std::nullopt, ""});
  const auto mb = optiscope::merge_store(target, b, MergeOptions{comparison, 1, std::nullopt, ""});
  ASSERT_EQ(ma.size(), 1u);
  ASSERT_EQ(mb.size(), 1u);
  EXPECT_EQ(ma[0].last_step, 3);
  EXPECT_EQ(ma[0].source_outcome, Outcome::completed);
  EXPECT_EQ(mb[0].source_outcome, Outcome::failed);

  const auto runs = target.runs_of(comparison);
  ASSERT_EQ(runs.size(), 2u) << "a second merge joins the same comparison";
  EXPECT_EQ(runs[0].optim, "adamw_torch");
  EXPECT_EQ(runs[0].ordinal, 0);
  EXPECT_EQ(runs[1].optim, "adamw_8bit");
  EXPECT_EQ(runs[1].ordinal, 1);
  EXPECT_EQ(runs[1].outcome, Outcome::failed);
  EXPECT_EQ(runs[1].outcome_detail, "boom");
  EXPECT_EQ(runs[0].spec_json, "{\"optim\":\"adamw_torch\"}");

  const auto ra = ma[0].run_id;
  const auto rb = mb[0].run_id;
  ASSERT_EQ(target.steps(ra).size(), 3u);
  EXPECT_DOUBLE_EQ(target.steps(ra)[2].loss, 5.0 - 0.3);
  EXPECT_EQ(target.steps(ra)[2].eval_loss.value_or(0), 4.5);
  EXPECT_EQ(target.steps(rb).size(), 2u);
  ASSERT_EQ(target.memory_samples(ra).size(), 3u);
  EXPECT_EQ(target.memory_samples(ra)[1].parameters, 200);
  EXPECT_EQ(target.memory_samples(ra)[1].context, 7);
  ASSERT_EQ(target.memory_samples(ra, 0, 1).size(), 3u) << "rank 1's samples";
  EXPECT_EQ(target.memory_samples(ra, 0, 1)[2].parameters, 150);
  const auto ranks = target.rank_steps(rb);
  ASSERT_EQ(ranks.size(), 4u);
  EXPECT_EQ(ranks[3].rank, 1);
  EXPECT_EQ(ranks[3].comm_bytes, 2000);
  EXPECT_EQ(runs[1].world_size, 2);
  EXPECT_EQ(runs[1].zero_stage, 1);
  ASSERT_EQ(target.paging_steps(rb).size(), 2u);
  EXPECT_EQ(target.paging_steps(rb)[0].measured_resident.value_or(-1), 5);
  EXPECT_EQ(target.um_event_count(ra), 3);
  ASSERT_TRUE(target.capture(rb).has_value());
  EXPECT_EQ(target.capture(rb)->dropped_records, 3);
  sqlite3* h = target.handle();
  EXPECT_EQ(count(h, "SELECT count(*) FROM memcpys WHERE run_id = " + std::to_string(ra)), 3);

  // kernel_names ids remapped by name: each kernel once, every stat pointing at its own name.
  EXPECT_EQ(count(h, "SELECT count(*) FROM kernel_names"), 3);
  EXPECT_EQ(count(h,
                  "SELECT count(*) FROM kernel_stats k JOIN kernel_names n ON n.id = k.name_id "
                  "WHERE n.name = 'shared_kernel'"),
            5);
  EXPECT_EQ(count(h,
                  "SELECT count(*) FROM kernel_stats k JOIN kernel_names n ON n.id = k.name_id WHERE "
                  "k.run_id = " +
                      std::to_string(rb) + " AND n.name = 'only_in_b'"),
            2);
  EXPECT_EQ(target.kernel_summary(ra).size(), 3u);
  EXPECT_EQ(count(h, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
  EXPECT_EQ(count(h, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check != 'ok'"), 0);
}

TEST_F(MergeTest, ARunWhoseWriterDiedGetsTheGivenOutcomeAndKeepsItsSteps) {
  const auto a = path("crashed.db");
  record_worker_run(a, "adamw_8bit", 4, "k", Outcome::running);
  Store target = Store::open(path("target.db"), Store::Mode::read_write);
  const auto comparison = target.add_comparison("c", "{}");
  const auto m = optiscope::merge_store(
      target, a,
      MergeOptions{comparison, 0, Outcome::failed, "worker 1 (cpu) ended by signal 9 during step 5"});
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].source_outcome, Outcome::running);
  EXPECT_EQ(m[0].last_step, 4);
  const auto run = target.run(m[0].run_id);
  EXPECT_EQ(run.outcome, Outcome::failed);
  EXPECT_EQ(run.outcome_detail, "worker 1 (cpu) ended by signal 9 during step 5");
  EXPECT_FALSE(run.finished_at.empty());
  EXPECT_EQ(target.steps(run.id).size(), 4u);
}

TEST_F(MergeTest, ColumnsAndPerRunTablesALaterSchemaAddsAreCopiedToo) {
  const auto a = path("a.db");
  const auto run = record_worker_run(a, "adamw_torch", 2, "k", Outcome::completed);
  Store target = Store::open(path("target.db"), Store::Mode::read_write);
  // As a schema bump would: a column on steps, and a table of the run's rows keyed by run_id.
  {
    Store src = Store::open(a, Store::Mode::read_write);
    sql(src.handle(), "ALTER TABLE steps ADD COLUMN later_ms REAL");
    sql(src.handle(), "UPDATE steps SET later_ms = step * 1.5");
    sql(src.handle(),
        "CREATE TABLE later_per_run(run_id INTEGER NOT NULL REFERENCES runs(id), step INTEGER NOT NULL, rank "
        "INTEGER NOT NULL, loss REAL, PRIMARY KEY(run_id, step, rank)) WITHOUT ROWID");
    sql(src.handle(), "INSERT INTO later_per_run VALUES(" + std::to_string(run) + ", 1, 0, 2.5), (" +
                          std::to_string(run) + ", 1, 1, 2.7)");
  }
  sql(target.handle(), "ALTER TABLE steps ADD COLUMN later_ms REAL");
  sql(target.handle(),
      "CREATE TABLE later_per_run(run_id INTEGER NOT NULL REFERENCES runs(id), step INTEGER NOT NULL, rank "
      "INTEGER NOT NULL, loss REAL, PRIMARY KEY(run_id, step, rank)) WITHOUT ROWID");
  const auto comparison = target.add_comparison("c", "{}");
  const auto m = optiscope::merge_store(target, a, MergeOptions{comparison, 0, std::nullopt, ""});
  ASSERT_EQ(m.size(), 1u);
  const std::string id = std::to_string(m[0].run_id);
  EXPECT_EQ(
      count(target.handle(), "SELECT CAST(SUM(later_ms) * 10 AS INTEGER) FROM steps WHERE run_id = " + id),
      45);
  EXPECT_EQ(count(target.handle(), "SELECT count(*) FROM later_per_run WHERE run_id = " + id), 2);
}

TEST_F(MergeTest, ASourceOfAnotherSchemaVersionIsRefusedAndNothingIsCopied) {
  const auto a = path("old.db");
  record_worker_run(a, "adamw_torch", 2, "k", Outcome::completed);
  {
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open(a.c_str(), &h), SQLITE_OK);
    sql(h, "PRAGMA user_version = 2");
    sqlite3_close(h);
  }
  Store target = Store::open(path("target.db"), Store::Mode::read_write);
  const auto comparison = target.add_comparison("c", "{}");
  try {
    optiscope::merge_store(target, a, MergeOptions{comparison, 0, std::nullopt, ""});
    FAIL() << "a store of another schema version must be refused";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("schema is version 2"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(target.runs().empty());
  EXPECT_EQ(count(target.handle(), "SELECT count(*) FROM steps"), 0);

  const auto junk = path("junk.db");
  {
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open(junk.c_str(), &h), SQLITE_OK);
    sql(h, "CREATE TABLE runs(id INTEGER PRIMARY KEY)");
    sqlite3_close(h);
  }
  EXPECT_THROW(optiscope::merge_store(target, junk, MergeOptions{comparison, 0, std::nullopt, ""}),
               StoreError);
  EXPECT_THROW(
      optiscope::merge_store(target, path("missing.db"), MergeOptions{comparison, 0, std::nullopt, ""}),
      StoreError);
  EXPECT_TRUE(target.runs().empty());
}
