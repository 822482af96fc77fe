#pragma once
#include <string>
#include <vector>

namespace optiscope::cli {

// Exit codes, documented in --help and docs/cli.md.
inline constexpr int kExitOk = 0;             // everything completed
inline constexpr int kExitError = 1;          // the store or the engine failed
inline constexpr int kExitUsage = 2;          // bad options or bad input files
inline constexpr int kExitVariantFailed = 3;  // the comparison ran, but a variant ended oom/over_budget/failed
inline constexpr int kExitCancelled = 130;    // interrupted (Ctrl-C); the store says "cancelled"

int cmd_run(const std::vector<std::string>& args);
int cmd_demo(const std::vector<std::string>& args);
int cmd_export(const std::vector<std::string>& args);
int cmd_list(const std::vector<std::string>& args);
int cmd_import(const std::vector<std::string>& args);

extern const char* const kRunHelp;
extern const char* const kDemoHelp;
extern const char* const kExportHelp;
extern const char* const kListHelp;
extern const char* const kImportHelp;

}  // namespace optiscope::cli
