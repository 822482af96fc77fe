#pragma once
// The launcher of a run over several ranks of this host (torchrun's job, for one run): it starts
// one process per rank, watches them, and turns how they ended into the run's outcome. No
// LibTorch here: the apps call it through run_comparison (RankProgram).
#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "engine/trainer.h"
#include "spec/run_spec.h"

namespace optiscope::distributed {

/// The program a rank process runs: an executable and the arguments that make it a rank (the CLI:
/// /proc/self/exe and its hidden rank subcommand). The launcher appends the rank's own options:
///   --spec-file FILE --rank R --world N --port P --result FILE --timeout-s S
///   [--device cuda:R] [--db STORE --run-id ID]   (the store on rank 0 only)
///   [--save-params FILE.rankR]
struct RankProgram {
  std::string exe;
  std::vector<std::string> args;
  std::string save_parameters;  // tests: each rank saves its final parameters to this path + ".rank<R>"
  int timeout_s = 300;          // collectives' timeout in the ranks
  /// Called with each rank's pid as it starts (the CLI prints it on stderr; tests use it).
  std::function<void(int rank, int pid)> on_started;
};

/// Runs `spec` over spec.nproc_per_node rank processes; rank 0 appends its steps to run run_id of
/// the store at store_path (the caller made the run and records the outcome returned). A rank that
/// dies (a signal, a nonzero exit) or ends out of memory or failed stops the others (SIGTERM, then
/// SIGKILL after 3 s) and is the run's outcome, named by rank; cancel asks every rank to stop after
/// its current step (SIGTERM) and ends the run cancelled. `poll` is called about every 100 ms
/// while the ranks run (progress).
engine::TrainResult run_ranks(const RankProgram& program, const RunSpec& spec, const std::string& spec_json,
                              const std::string& store_path, std::int64_t run_id,
                              const std::atomic<bool>* cancel, const std::function<void()>& poll);

/// A rank's result, written by the rank process before it exits, read by the launcher.
void write_rank_result(const std::string& path, const engine::TrainResult& result);
bool read_rank_result(const std::string& path, engine::TrainResult& result);

}  // namespace optiscope::distributed
