// optiscope-cli import: runs recorded by other tools, read whole and checked before the store is
// even opened, then written in one transaction.
#include <cstdio>
#include <filesystem>

#include "cli_args.h"
#include "cli_commands.h"
#include "importers/nsys_sqlite.h"
#include "importers/trainer_state.h"
#include "store/store.h"

namespace optiscope::cli {

const char* const kImportHelp =
    R"(usage: optiscope-cli import --db FILE (--trainer-state FILE | --nsys-sqlite FILE) [options]

Imports what other tools recorded into the store FILE (created if needed). The file is
read whole and checked first, and written in one transaction: a file that cannot be
imported changes nothing. The imported file itself is only read.

  --db FILE             store to write (SQLite)
  --trainer-state FILE  a Hugging Face Trainer trainer_state.json: its log_history becomes a
                        new comparison with one run (loss, learning rate, evaluation loss,
                        step time from train_runtime), device "imported"
  --nsys-sqlite FILE    an Nsight Systems SQLite export (nsys export --type sqlite): its
                        unified-memory page faults and migrations become paging events
  --name TEXT           name of the new comparison (default: from the file's folder)
  --optim NAME          optimizer of the imported run (default: args.optim from a trainer
                        state that has it; "unknown" for an Nsight export)
  --run ID              with --nsys-sqlite: add the events to run ID of the store instead of
                        a new run (the run must have no paging events yet)
)";

int cmd_import(const std::vector<std::string>& argv) {
  const Args a(argv, {"--db", "--trainer-state", "--nsys-sqlite", "--name", "--optim", "--run"}, {});
  const std::string db = a.require("--db");
  const auto trainer = a.get("--trainer-state");
  const auto nsys = a.get("--nsys-sqlite");
  if (trainer.has_value() == nsys.has_value())
    throw UsageError("give one of --trainer-state FILE or --nsys-sqlite FILE");
  if (trainer && a.has("--run"))
    throw UsageError("--run adds paging events to a run: it goes with --nsys-sqlite, not --trainer-state");
  if (a.has("--run") && (a.has("--name") || a.has("--optim")))
    throw UsageError("--name and --optim describe a new run: leave them out with --run");
  std::optional<std::int64_t> run_id;
  if (auto v = a.get("--run")) {
    run_id = to_int("--run", *v);
    // Adding to a run needs a store that has it; a new file would only be created to be refused.
    if (!std::filesystem::exists(db))
      throw UsageError("no such store " + db + ": --run needs an existing store");
  }
  const std::string source = trainer ? *trainer : *nsys;
  if (std::filesystem::exists(db) && std::filesystem::exists(source) &&
      std::filesystem::equivalent(db, source))
    throw UsageError("the store and the file to import are the same file");

  importers::ImportResult result;
  if (trainer) {
    const auto data = importers::read_trainer_state(*trainer);
    const importers::TrainerStateImportOptions options{a.get("--name").value_or(""),
                                                       a.get("--optim").value_or("")};
    importers::resolve_optim(data, options);  // refuse before the store file is created
    Store store = Store::open(db, Store::Mode::read_write);
    result = importers::write_trainer_state(store, data, options);
  } else {
    const auto data = importers::read_nsys_sqlite(*nsys);
    importers::NsysImportOptions options;
    options.name = a.get("--name").value_or("");
    options.optim = a.get("--optim").value_or("");
    options.run_id = run_id;
    if (!options.optim.empty() && !importers::plausible_optim_name(options.optim))
      throw UsageError("--optim '" + options.optim + "' is not an optimizer name");
    Store store = Store::open(db, Store::Mode::read_write);
    result = importers::write_nsys_events(store, data, options);
  }
  std::fputs(result.summary.c_str(), stdout);
  return kExitOk;
}

}  // namespace optiscope::cli
