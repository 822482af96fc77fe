#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <iterator>

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
    ASSERT_EQ(sqlite3_exec(h, "CREATE TABLE t(x); INSERT INTO t VALUES(1);", nullptr, nullptr, nullptr), SQLITE_OK);
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
                    Outcome::interrupted})
    EXPECT_EQ(optiscope::outcome_from_string(optiscope::to_string(o)), o);
  EXPECT_EQ(optiscope::outcome_from_string("nonsense"), Outcome::failed);
}
