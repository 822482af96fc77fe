// Rank processes of optiscope-cli (its hidden rank subcommand) on the CPU with Gloo, 2 ranks: the
// parameters after a few steps of the tiny model against a one-process run of twice the batch, and
// `optiscope-cli run --nproc 2` end to end: a rank killed mid-run, and what the store receives.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "distributed/launcher.h"
#include "engine/trainer.h"
#include "store/store.h"

extern char** environ;

namespace optiscope {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("optiscope-dist-" + name + "-" + std::to_string(getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

RunSpec tiny_spec(const std::string& optim, int batch) {
  RunSpec s;
  s.model = "tiny";
  s.optim = optim;
  s.per_device_train_batch_size = batch;
  s.max_seq_length = 32;
  s.max_steps = 4;
  s.learning_rate = 1e-3;
  s.warmup_ratio = 0.0;
  s.max_grad_norm = 1.0;  // clipping on: the sharded norm must be the global one
  s.seed = 3;
  return s;
}

std::vector<torch::Tensor> load(const fs::path& file) {
  std::vector<torch::Tensor> t;
  torch::load(t, file.string());
  return t;
}

double max_diff(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0.0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i)
    d = std::max(d, (a[i] - b[i]).abs().max().item<double>());
  return d;
}

// The one-process run of batch 2 x per-rank batch.
std::vector<torch::Tensor> one_process(const std::string& optim, const fs::path& dir) {
  engine::TrainOptions o;
  o.save_parameters = (dir / ("one-" + optim + ".pt")).string();
  const auto r = engine::train(tiny_spec(optim, 4), nullptr, nullptr, o);
  EXPECT_EQ(r.outcome, Outcome::completed) << r.detail;
  return load(o.save_parameters);
}

// Both ranks' final parameters of a 2-rank run.
std::vector<std::vector<torch::Tensor>> two_ranks(const std::string& optim, int stage, const fs::path& dir) {
  RunSpec spec = tiny_spec(optim, 2);
  spec.nproc_per_node = 2;
  spec.zero_stage = stage;
  distributed::RankProgram program;
  program.exe = OPTISCOPE_CLI;
  program.args = {"__rank"};
  program.timeout_s = 60;
  program.save_parameters = (dir / (optim + "-stage" + std::to_string(stage) + ".pt")).string();
  const auto r = distributed::run_ranks(program, spec, to_json(spec), "", 0, nullptr, {});
  EXPECT_EQ(r.outcome, Outcome::completed) << r.detail;
  EXPECT_EQ(r.steps_done, spec.max_steps);
  return {load(program.save_parameters + ".rank0"), load(program.save_parameters + ".rank1")};
}

TEST(RankProcesses, TwoRanksGiveTheParametersOfOneProcessWithTwiceTheBatch) {
  const fs::path dir = temp_dir("params");
  struct Case {
    std::string optim;
    int stage;
    double tolerance;
  };
  // fp32: the ranks' gradients are each half the batch's, averaged, so they differ from one
  // batch's in the last bits; 4 steps of AdamW (lr 1e-3) keep that well under 1e-5. The 8-bit
  // state quantizes the same blocks, so it stays as close (a code can flip on a rounding tie).
  const std::vector<Case> cases = {{"adamw_32bit", 0, 1e-5},
                                   {"adamw_32bit", 1, 1e-5},
                                   {"adamw_32bit", 2, 1e-5},
                                   {"adamw_torch", 2, 1e-5},
                                   {"adamw_8bit", 2, 1e-4}};
  std::map<std::string, std::vector<torch::Tensor>> base;
  for (const auto& c : cases) {
    if (base.count(c.optim) == 0) base[c.optim] = one_process(c.optim, dir);
    const auto ranks = two_ranks(c.optim, c.stage, dir);
    const double d = max_diff(ranks[0], base[c.optim]);
    std::cout << "[info] " << c.optim << " zero_stage " << c.stage << ": max |rank 0 - one process| = " << d
              << "\n";
    EXPECT_LT(d, c.tolerance) << c.optim << " stage " << c.stage;
    EXPECT_EQ(max_diff(ranks[0], ranks[1]), 0.0) << "the ranks' parameters differ";
  }
  // The comparison can fail: another seed's run is far away.
  RunSpec other = tiny_spec("adamw_32bit", 4);
  other.seed = 4;
  engine::TrainOptions o;
  o.save_parameters = (dir / "other.pt").string();
  ASSERT_EQ(engine::train(other, nullptr, nullptr, o).outcome, Outcome::completed);
  EXPECT_GT(max_diff(load(o.save_parameters), base["adamw_32bit"]), 1e-3);
  fs::remove_all(dir);
}

// optiscope-cli run ... with its stderr in a file; returns the pid.
pid_t spawn_cli(const std::vector<std::string>& args, const fs::path& err) {
  std::vector<std::string> all = {OPTISCOPE_CLI};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, OPTISCOPE_CLI, &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

std::string read_text(const fs::path& f) {
  std::ifstream in(f);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The pids the launcher printed ("rank R started, pid P").
std::map<int, pid_t> rank_pids(const fs::path& err) {
  std::map<int, pid_t> pids;
  const std::string text = read_text(err);
  const std::regex re("rank (\\d+) started, pid (\\d+)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it)
    pids[std::stoi((*it)[1])] = static_cast<pid_t>(std::stol((*it)[2]));
  return pids;
}

// Waits for pid to exit (up to `seconds`); its wait status, or -1 on a timeout (then it is killed).
int wait_for(pid_t pid, int seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  int status = 0;
  while (std::chrono::steady_clock::now() < until) {
    if (waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

bool gone(pid_t pid) {
  return kill(pid, 0) != 0 && errno == ESRCH;
}

// The id of the store's run once it shows a step (0 after `seconds` without one).
std::int64_t wait_for_a_step(const fs::path& db, int seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!fs::exists(db)) continue;
    try {
      const Store store = Store::open(db.string(), Store::Mode::read_only);
      for (const auto& r : store.runs())
        if (!store.steps(r.id).empty()) return r.id;
    } catch (const StoreError&) {
      // Being created.
    }
  }
  return 0;
}

TEST(RunNproc, CtrlCCancelsEveryRank) {
  const fs::path dir = temp_dir("cancel");
  const fs::path db = dir / "runs.db";
  const fs::path err = dir / "stderr.txt";
  const pid_t cli = spawn_cli({"run", "--db", db.string(), "--optim", "adamw_8bit", "--nproc", "2",
                               "--zero-stage", "1", "--steps", "2000", "--batch", "2", "--seq-len", "32"},
                              err);
  const std::int64_t run_id = wait_for_a_step(db, 60);
  ASSERT_NE(run_id, 0) << read_text(err);
  const auto pids = rank_pids(err);
  ASSERT_EQ(pids.size(), 2u) << read_text(err);
  // To the launcher alone (a terminal's Ctrl-C reaches the ranks too; they take it the same way).
  ASSERT_EQ(kill(cli, SIGINT), 0);
  const int status = wait_for(cli, 60);
  ASSERT_TRUE(WIFEXITED(status)) << read_text(err);
  EXPECT_EQ(WEXITSTATUS(status), 130) << read_text(err);
  EXPECT_TRUE(gone(pids.at(0)));
  EXPECT_TRUE(gone(pids.at(1)));
  const Store store = Store::open(db.string(), Store::Mode::read_only);
  EXPECT_EQ(store.run(run_id).outcome, Outcome::cancelled) << store.run(run_id).outcome_detail;
  // Both ranks stopped after the same step: rank 0 recorded each of its steps with rank 1's.
  const auto steps = store.steps(run_id);
  ASSERT_FALSE(steps.empty());
  EXPECT_EQ(store.rank_steps(run_id).size(), 2 * steps.size());
  fs::remove_all(dir);
}

TEST(RunNproc, AKilledRankFailsTheRunAndStopsTheOthers) {
  const fs::path dir = temp_dir("kill");
  const fs::path db = dir / "runs.db";
  const fs::path err = dir / "stderr.txt";
  const pid_t cli = spawn_cli({"run", "--db", db.string(), "--optim", "adamw_32bit", "--nproc", "2",
                               "--zero-stage", "2", "--steps", "2000", "--batch", "2", "--seq-len", "32"},
                              err);
  // Until the store shows a step of the run.
  const std::int64_t run_id = wait_for_a_step(db, 60);
  ASSERT_NE(run_id, 0) << read_text(err);
  const auto pids = rank_pids(err);
  ASSERT_EQ(pids.size(), 2u) << read_text(err);
  ASSERT_EQ(kill(pids.at(1), SIGKILL), 0);
  const int status = wait_for(cli, 30);
  ASSERT_NE(status, -1) << "the launcher did not end: " << read_text(err);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3) << read_text(err);  // a variant failed
  EXPECT_TRUE(gone(pids.at(0))) << "rank 0 is still running";
  EXPECT_TRUE(gone(pids.at(1)));
  const Store store = Store::open(db.string(), Store::Mode::read_only);
  const RunInfo run = store.run(run_id);
  EXPECT_EQ(run.outcome, Outcome::failed);
  EXPECT_NE(run.outcome_detail.find("rank 1"), std::string::npos) << run.outcome_detail;
  EXPECT_NE(run.outcome_detail.find("signal 9"), std::string::npos) << run.outcome_detail;
  EXPECT_FALSE(store.steps(run_id).empty());
  std::cout << "[info] " << run.outcome_detail << " after " << store.steps(run_id).size() << " steps\n";
  fs::remove_all(dir);
}

TEST(RunNproc, AnOutOfMemoryRankIsTheRunsResult) {
  const fs::path dir = temp_dir("oom");
  const fs::path db = dir / "runs.db";
  const fs::path err = dir / "stderr.txt";
  // 2 MB of CPU budget: a rank runs out of memory; the other must not wait for it forever.
  const int status =
      wait_for(spawn_cli({"run", "--db", db.string(), "--optim", "adamw_8bit", "--nproc", "2", "--budget-gb",
                          "0.002", "--steps", "3", "--batch", "2", "--seq-len", "32"},
                         err),
               60);
  ASSERT_TRUE(WIFEXITED(status)) << read_text(err);
  EXPECT_EQ(WEXITSTATUS(status), 3) << read_text(err);
  const Store store = Store::open(db.string(), Store::Mode::read_only);
  ASSERT_EQ(store.runs().size(), 1u);
  const RunInfo run = store.runs().front();
  EXPECT_EQ(run.outcome, Outcome::oom) << run.outcome_detail;
  EXPECT_EQ(run.outcome_detail.rfind("rank ", 0), 0u) << run.outcome_detail;
  fs::remove_all(dir);
}

TEST(RunNproc, TheStoreReceivesEveryRanksMemoryAndCommunication) {
  const fs::path dir = temp_dir("store");
  const fs::path db = dir / "runs.db";
  const fs::path err = dir / "stderr.txt";
  const std::vector<std::string> common = {"--db",    db.string(), "--optim",   "adamw_32bit", "--steps", "3",
                                           "--batch", "2",         "--seq-len", "32",          "--quiet"};
  auto args = common;
  args.insert(args.begin(), "run");
  ASSERT_EQ(wait_for(spawn_cli(args, err), 120), 0) << read_text(err);
  for (const std::string stage : {"0", "1"}) {
    auto a = args;
    a.insert(a.end(), {"--nproc", "2", "--zero-stage", stage});
    const int status = wait_for(spawn_cli(a, err), 120);
    ASSERT_EQ(status, 0) << read_text(err);
  }
  const Store store = Store::open(db.string(), Store::Mode::read_only);
  const auto runs = store.runs();
  ASSERT_EQ(runs.size(), 3u);
  const auto state_of = [&](std::int64_t run_id) {
    for (const auto& m : store.memory_samples(run_id))
      if (m.phase == Phase::optimizer && m.point == SamplePoint::end) return m.optimizer_device;
    return std::int64_t{0};
  };
  const std::int64_t one = state_of(runs[0].id);
  const std::int64_t replicated = state_of(runs[1].id);
  const std::int64_t sharded = state_of(runs[2].id);
  std::cout << "[info] optimizer state per rank: one process " << one << ", 2 ranks stage 0 " << replicated
            << ", stage 1 " << sharded << " bytes ("
            << static_cast<double>(sharded) / static_cast<double>(one) << " of one process's)\n";
  EXPECT_GT(one, 0);
  EXPECT_EQ(replicated, one);
  EXPECT_LT(sharded, one * 6 / 10);
  EXPECT_GT(sharded, one * 4 / 10);
  for (const auto& r : {runs[1], runs[2]}) {
    EXPECT_EQ(r.outcome, Outcome::completed) << r.outcome_detail;
    const auto steps = store.steps(r.id);
    ASSERT_EQ(steps.size(), 3u);
    bool comm = false;
    for (const auto& m : store.memory_samples(r.id)) comm = comm || m.phase == Phase::communication;
    EXPECT_TRUE(comm) << "no communication samples";
    // The rank dimension (schema 4): the run's ranks and stage, the collectives of each step, every
    // rank's samples and its own step.
    EXPECT_EQ(r.world_size, 2);
    for (const auto& s : steps) {
      ASSERT_TRUE(s.comm_ms.has_value());
      EXPECT_GT(s.comm_bytes.value_or(0), 0);
      EXPECT_EQ(s.tokens, 2 * 2 * 32) << "the run's tokens: both ranks' batch of 2 x 32";
    }
    const auto mine = store.memory_samples(r.id, 0, 0);
    const auto theirs = store.memory_samples(r.id, 0, 1);
    EXPECT_EQ(mine.size(), 3u * 8u);  // 8 samples a step: forward, backward, optimizer, communication
    EXPECT_EQ(theirs.size(), mine.size());
    for (const auto& m : theirs) EXPECT_EQ(m.rank, 1);
    const auto per_rank = store.rank_steps(r.id);
    ASSERT_EQ(per_rank.size(), 6u);
    for (std::size_t k = 0; k < per_rank.size(); ++k) {
      EXPECT_EQ(per_rank[k].step, static_cast<std::int64_t>(k / 2 + 1));
      EXPECT_EQ(per_rank[k].rank, static_cast<int>(k % 2));
      EXPECT_GT(per_rank[k].comm_bytes, 0);
      EXPECT_GT(per_rank[k].step_ms, 0.0);
    }
    // The run's loss is the mean of its ranks'.
    EXPECT_NEAR(steps[0].loss, (per_rank[0].loss + per_rank[1].loss) / 2, 1e-9);
  }
  EXPECT_EQ(runs[1].zero_stage, 0);
  EXPECT_EQ(runs[2].zero_stage, 1);
  // Each rank's state is its shard: together exactly one process's (pieces carry no padding).
  std::int64_t rank1 = 0;
  for (const auto& m : store.memory_samples(runs[2].id, 0, 1))
    if (m.phase == Phase::optimizer && m.point == SamplePoint::end) rank1 = m.optimizer_device;
  std::cout << "[info] stage 1: rank 0 " << sharded << " + rank 1 " << rank1
            << " bytes of state, one process " << one << "\n";
  EXPECT_EQ(sharded + rank1, one);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace optiscope
