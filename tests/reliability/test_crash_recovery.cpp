// A recording killed with SIGKILL (power cut, OOM killer, kill -9): the store must pass SQLite's
// integrity check, keep every step committed before the kill, and show the run as interrupted the
// next time it is opened, both through `optiscope-cli list` and through the Store API.
#include "support.h"

namespace optiscope::reliability {
namespace {

// Long enough that the kill always lands mid-run, whatever the machine (ASan makes steps slower).
const std::vector<std::string> kLongRun = {
    "run", "--preset", "tiny", "--optim", "adamw_torch,adamw_8bit", "--steps", "100000", "--quiet"};

std::vector<std::string> with_db(std::vector<std::string> args, const std::string& db) {
  args.push_back("--db");
  args.push_back(db);
  return args;
}

/// Steps of the first run as a reader sees them now; empty while the store is not there yet.
std::vector<StepRecord> visible_steps(const std::string& db) {
  try {
    const Store s = Store::open(db, Store::Mode::read_only);
    const auto runs = s.runs();
    return runs.empty() ? std::vector<StepRecord>{} : s.steps(runs.front().id);
  } catch (const StoreError&) {
    return {};  // not created yet, or its schema not committed yet
  }
}

TEST(CrashRecovery, KilledMidRunKeepsCommittedStepsAndIsInterrupted) {
  const ScratchDir dir;
  const auto db = dir / "killed.db";
  std::vector<StepRecord> before;
  {
    auto args = with_db(kLongRun, db);
    args.insert(args.begin(), cli_path());
    Child cli(args, dir / "cli.out", dir / "cli.err");
    ASSERT_TRUE(eventually(
        [&] {
          before = visible_steps(db);
          return before.size() >= 3 || cli.exited();
        },
        std::chrono::seconds(300)))
        << "the CLI wrote no 3 steps in 300 s";
    ASSERT_FALSE(cli.exited()) << "the CLI ended on its own: " << cli.err();
    // Steps take hundreds of milliseconds and their write a fraction of one: the kill lands in
    // the middle of a step's computation, or now and then in the middle of its transaction.
    cli.kill9();
  }
  ASSERT_GE(before.size(), 3u);

  EXPECT_EQ(integrity(db), "ok\n");

  // `list` opens read-only: it reports the run as interrupted without writing the file.
  const auto files_before_list = snapshot(dir.path());
  const auto listed = run_cli(dir.path(), {"list", "--db", db});
  ASSERT_EQ(listed.exit_code, 0) << listed.describe();
  EXPECT_NE(listed.out.find("interrupted"), std::string::npos) << listed.out;
  EXPECT_EQ(listed.out.find("running"), std::string::npos) << listed.out;
  EXPECT_EQ(snapshot(dir.path()).at("killed.db"), files_before_list.at("killed.db"))
      << "listing a store must not write its file";

  std::int64_t run_id = 0;
  {
    const Store r = Store::open(db, Store::Mode::read_only);
    const auto runs = r.runs();
    ASSERT_EQ(runs.size(), 1u) << "the kill came during the first variant";
    run_id = runs[0].id;
    EXPECT_EQ(runs[0].outcome, Outcome::interrupted);
    const auto after = r.steps(run_id);
    ASSERT_GE(after.size(), before.size());
    for (std::size_t i = 0; i < before.size(); ++i) {
      EXPECT_EQ(after[i].step, before[i].step);
      EXPECT_DOUBLE_EQ(after[i].loss, before[i].loss) << "step " << before[i].step << " changed";
    }
    for (std::size_t i = 0; i < after.size(); ++i)
      EXPECT_EQ(after[i].step, static_cast<std::int64_t>(i) + 1) << "steps are contiguous from 1";
    // Each step's memory samples were written in the same transaction as the step: none is half there.
    const auto samples = r.memory_samples(run_id);
    EXPECT_EQ(samples.size(), after.size() * 6);
  }

  // A writable open records the mark in the file, so every later reader agrees.
  { const Store w = Store::open(db, Store::Mode::read_write); }
  {
    const RawDb raw(db, SQLITE_OPEN_READONLY);
    EXPECT_EQ(raw.one("SELECT outcome FROM runs WHERE id = " + std::to_string(run_id)), "interrupted");
    EXPECT_NE(raw.one("SELECT outcome_detail FROM runs").find("every step it committed is kept"),
              std::string::npos);
  }
  EXPECT_EQ(integrity(db), "ok\n");
  // Read-only connections leave an empty -wal behind; what matters is that no data stays in it.
  EXPECT_TRUE(!fs::exists(db + "-wal") || fs::file_size(db + "-wal") == 0)
      << "the last writer folds the log back into the file";
}

// Kills at moments from "before anything was written" to "mid-run", into the same store, then a
// normal run appends to it: at every point the file is intact, nothing committed disappears, and
// the final run completes beside the interrupted ones.
TEST(CrashRecovery, KillsAtAnyMomentNeverCorruptAndTheStoreStaysUsable) {
  const ScratchDir dir;
  const auto db = dir / "many.db";
  std::size_t steps_seen = 0;
  int kills = 0;
  for (const auto delay : {0ms, 150ms, 600ms, 1500ms, 3000ms}) {
    {
      auto args = with_db(kLongRun, db);
      args.insert(args.begin(), cli_path());
      Child cli(args, dir / "cli.out", dir / "cli.err");
      std::this_thread::sleep_for(delay);
      ASSERT_FALSE(cli.exited()) << cli.err();
      cli.kill9();
      ++kills;
    }
    if (!fs::exists(db)) continue;  // killed before SQLite created the file
    EXPECT_EQ(integrity(db), "ok\n") << "after a kill " << delay.count() << " ms into the run";
    try {
      const Store r = Store::open(db, Store::Mode::read_only);
      std::size_t steps = 0;
      for (const auto& run : r.runs()) {
        EXPECT_NE(run.outcome, Outcome::running) << "run " << run.id << " of a dead writer";
        steps += r.steps(run.id).size();
      }
      EXPECT_GE(steps, steps_seen) << "committed steps disappeared";
      steps_seen = steps;
    } catch (const StoreError& e) {
      // Only acceptable before the schema was ever committed: the file is then empty.
      EXPECT_EQ(steps_seen, 0u);
      EXPECT_NE(std::string(e.what()).find("empty"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(kills, 5);

  const auto done = run_cli(dir.path(), {"run", "--preset", "tiny", "--optim", "adamw_8bit", "--steps", "3",
                                         "--quiet", "--db", db});
  ASSERT_EQ(done.exit_code, 0) << done.describe();
  EXPECT_EQ(integrity(db), "ok\n");
  const Store r = Store::open(db, Store::Mode::read_only);
  const auto runs = r.runs();
  ASSERT_FALSE(runs.empty());
  EXPECT_EQ(runs.back().outcome, Outcome::completed);
  EXPECT_EQ(r.steps(runs.back().id).size(), 3u);
  for (std::size_t i = 0; i + 1 < runs.size(); ++i) EXPECT_EQ(runs[i].outcome, Outcome::interrupted);
}

}  // namespace
}  // namespace optiscope::reliability
