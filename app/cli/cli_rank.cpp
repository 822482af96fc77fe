// The hidden rank subcommand: one rank of a run over several ranks, started by `optiscope-cli run
// --nproc N` (core/distributed/launcher.cpp gives its options). Not for users: not in --help.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include "cli_args.h"
#include "cli_commands.h"
#include "distributed/launcher.h"
#include "engine/trainer.h"
#include "store/store.h"

namespace optiscope::cli {
namespace {

std::atomic<bool> g_rank_cancel{false};

extern "C" void on_rank_signal(int) {
  g_rank_cancel.store(true);
}

// Rank 0's recorder: the steps (every rank's samples and RankStep in each bundle) into the run the
// launcher made. Only rank 0 writes the store.
class RankRecorder final : public engine::RunRecorder {
 public:
  RankRecorder(Store& store, std::int64_t run_id) : store_(store), run_id_(run_id) {}
  void on_capture(const CaptureInfo& info) override { store_.set_capture(run_id_, info); }
  void on_bundle(const StepBundle& bundle) override { store_.append_bundle(run_id_, bundle); }

 private:
  Store& store_;
  std::int64_t run_id_;
};

}  // namespace

int cmd_rank(const std::vector<std::string>& argv) {
  const Args a(argv,
               {"--spec-file", "--rank", "--world", "--port", "--result", "--timeout-s", "--device", "--db",
                "--run-id", "--save-params"},
               {});
  std::ifstream in(a.require("--spec-file"), std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  RunSpec spec = run_spec_from_json(text.str());
  if (auto d = a.get("--device")) spec.device = *d;
  engine::TrainOptions options;
  engine::RankOptions rank;
  rank.rank = to_int("--rank", a.require("--rank"));
  rank.world_size = to_int("--world", a.require("--world"));
  rank.port = to_int("--port", a.require("--port"));
  if (auto t = a.get("--timeout-s")) rank.timeout_s = to_int("--timeout-s", *t);
  options.rank = rank;
  // CUPTI's records would go nowhere on the ranks that do not write.
  options.capture = rank.rank == 0;
  if (auto p = a.get("--save-params")) options.save_parameters = *p;
  // Ctrl-C reaches every process of the terminal's group, and the launcher forwards SIGTERM: both
  // ask the ranks to stop together after the current step.
  std::signal(SIGINT, on_rank_signal);
  std::signal(SIGTERM, on_rank_signal);
  std::optional<Store> store;
  std::unique_ptr<RankRecorder> recorder;
  if (auto db = a.get("--db")) {
    store.emplace(Store::open(*db, Store::Mode::read_write));
    recorder = std::make_unique<RankRecorder>(*store, to_int("--run-id", a.require("--run-id")));
  }
  const engine::TrainResult result = engine::train(spec, recorder.get(), &g_rank_cancel, options);
  distributed::write_rank_result(a.require("--result"), result);
  return kExitOk;
}

}  // namespace optiscope::cli
