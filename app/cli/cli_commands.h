#pragma once
#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "engine/comparison_runner.h"

namespace optiscope::cli {

// Exit codes, documented in --help and docs/cli.md.
inline constexpr int kExitOk = 0;     // everything completed
inline constexpr int kExitError = 1;  // the store or the engine failed
inline constexpr int kExitUsage = 2;  // bad options or bad input files
inline constexpr int kExitVariantFailed =
    3;                                      // the comparison ran, but a variant ended oom/over_budget/failed
inline constexpr int kExitCancelled = 130;  // interrupted (Ctrl-C); the store says "cancelled"
inline constexpr const char* kRankCommand = "__rank";  // hidden subcommand: one rank of run --nproc N

int cmd_run(const std::vector<std::string>& args);
int cmd_demo(const std::vector<std::string>& args);
int cmd_export(const std::vector<std::string>& args);
int cmd_list(const std::vector<std::string>& args);
int cmd_import(const std::vector<std::string>& args);
int cmd_ladder(const std::vector<std::string>& args);
int cmd_upgrade(const std::vector<std::string>& args);
/// Hidden: one rank of a run over several ranks (started by run --nproc N).
int cmd_rank(const std::vector<std::string>& args);
/// How run --nproc N starts its ranks: this executable's hidden rank subcommand.
distributed::RankProgram rank_program();
int cmd_sweep(const std::vector<std::string>& args);

/// Runs `job` with progress lines on stderr (unless quiet) and Ctrl-C / SIGTERM cancelling it.
ComparisonResult run_with_progress(
    const std::function<ComparisonResult(ComparisonObserver*, const std::atomic<bool>*)>& job, bool quiet);

extern const char* const kRunHelp;
extern const char* const kDemoHelp;
extern const char* const kExportHelp;
extern const char* const kListHelp;
extern const char* const kImportHelp;
extern const char* const kLadderHelp;
extern const char* const kUpgradeHelp;
extern const char* const kSweepHelp;

}  // namespace optiscope::cli
