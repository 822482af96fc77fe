// optiscope-cli: the headless front end, for GPU servers and scripts.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_error.h"
#include "cli_args.h"
#include "cli_commands.h"
#include "importers/import_common.h"
#include "spec/run_spec.h"
#include "store/store.h"
#include "tokenizer/tokenizer_error.h"

namespace {

constexpr const char* kHelp = R"(usage: optiscope-cli <command> [options]

Records optimizer comparisons (loss, memory, timing) into a SQLite store that the
Optiscope GUI opens, and exports them.

commands:
  run      run a comparison of optimizer variants          (optiscope-cli run --help)
  demo     run the built-in default comparison             (optiscope-cli demo --help)
  ladder   record a fit ladder of memory tricks            (optiscope-cli ladder --help)
  sweep    run a grid of runs over GPUs or CPU workers     (optiscope-cli sweep --help)
  export   export the steps of a store as CSV              (optiscope-cli export --help)
  list     list the comparisons and runs in a store        (optiscope-cli list --help)
  import   import a Trainer state or an Nsight export      (optiscope-cli import --help)
  upgrade  upgrade a store from an older Optiscope         (optiscope-cli upgrade --help)

options:
  --help       this text
  --version    the version

exit codes:
  0    success
  1    error in the store or the engine (a full disk among them)
  2    bad options or bad input (nothing was written)
  3    the comparison ran, but a variant ended out of memory, over its budget or failed (see the store)
       (sweep: any run of the sweep)
  130  interrupted; the interrupted run is recorded as cancelled
)";

}  // namespace

namespace optiscope::cli {

int to_int(const std::string& option, const std::string& text) {
  try {
    std::size_t used = 0;
    const long long v = std::stoll(text, &used);
    if (used != text.size() || v > 2147483647LL || v < -2147483648LL) throw std::invalid_argument(text);
    return static_cast<int>(v);
  } catch (const std::exception&) {
    throw UsageError(option + " needs a whole number, not '" + text + "'");
  }
}

double to_double(const std::string& option, const std::string& text) {
  try {
    std::size_t used = 0;
    const double v = std::stod(text, &used);
    if (used != text.size()) throw std::invalid_argument(text);
    return v;
  } catch (const std::exception&) {
    throw UsageError(option + " needs a number, not '" + text + "'");
  }
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (const char c : text + ",") {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else if (c != ' ') {
      cur += c;
    }
  }
  return out;
}

}  // namespace optiscope::cli

int main(int argc, char** argv) {
  using namespace optiscope::cli;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kHelp, args.empty() ? stderr : stdout);
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args[0] == "--version") {
    std::printf("optiscope-cli %s\n", OPTISCOPE_VERSION);
    return kExitOk;
  }
  const std::string command = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  struct Entry {
    const char* name;
    int (*fn)(const std::vector<std::string>&);
    const char* help;
  };
  const Entry entries[] = {{"run", cmd_run, kRunHelp},          {"demo", cmd_demo, kDemoHelp},
                           {"ladder", cmd_ladder, kLadderHelp}, {"sweep", cmd_sweep, kSweepHelp},
                           {"export", cmd_export, kExportHelp}, {"list", cmd_list, kListHelp},
                           {"import", cmd_import, kImportHelp}, {"upgrade", cmd_upgrade, kUpgradeHelp}};
  // Hidden: a rank process of run --nproc N (its launcher reads the result file, not the exit code).
  if (command == kRankCommand) {
    try {
      return cmd_rank(rest);
    } catch (const std::exception& err) {
      std::fprintf(stderr, "optiscope-cli rank: %s\n", err.what());
      return kExitError;
    }
  }
  for (const auto& e : entries) {
    if (command != e.name) continue;
    if (!rest.empty() && (rest[0] == "--help" || rest[0] == "-h")) {
      std::fputs(e.help, stdout);
      return kExitOk;
    }
    try {
      return e.fn(rest);
    } catch (const UsageError& err) {
      std::fprintf(stderr, "optiscope-cli %s: %s\n\n%s", e.name, err.what(), e.help);
      return kExitUsage;
    } catch (const optiscope::importers::ImportError& err) {
      // A file that cannot be imported is bad input, not a misuse of options: no usage text.
      std::fprintf(stderr, "optiscope-cli %s: %s\n", e.name, err.what());
      return kExitUsage;
    } catch (const optiscope::checkpoint::CheckpointError& err) {
      // A model file that cannot be used (a GGUF that lies, a checkpoint folder that is not one).
      std::fprintf(stderr, "optiscope-cli %s: %s\n", e.name, err.what());
      return kExitUsage;
    } catch (const optiscope::tokenizer::TokenizerError& err) {
      std::fprintf(stderr, "optiscope-cli %s: %s\n", e.name, err.what());
      return kExitUsage;
    } catch (const optiscope::SpecError& err) {
      std::fprintf(stderr, "optiscope-cli %s: %s\n", e.name, err.what());
      return kExitUsage;
    } catch (const optiscope::StoreNeedsMigration& err) {
      std::fprintf(stderr, "optiscope-cli %s: %s\nUpgrade it with: optiscope-cli upgrade --db FILE\n", e.name,
                   err.what());
      return kExitUsage;
    } catch (const optiscope::StoreDiskFull& err) {
      // Not the input's fault: the same command succeeds once there is room.
      std::fprintf(stderr, "optiscope-cli %s: %s\n", e.name, err.what());
      return kExitError;
    } catch (const optiscope::StoreError& err) {
      std::fprintf(stderr, "optiscope-cli %s: %s\n", e.name, err.what());
      return kExitUsage;
    } catch (const std::exception& err) {
      std::fprintf(stderr, "optiscope-cli %s: error: %s\n", e.name, err.what());
      return kExitError;
    }
  }
  std::fprintf(stderr, "optiscope-cli: unknown command '%s'\n\n%s", command.c_str(), kHelp);
  return kExitUsage;
}
