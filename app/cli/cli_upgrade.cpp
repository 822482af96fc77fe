// optiscope-cli upgrade: migrates an older store in place, the headless counterpart of the GUI's
// "Upgrade store?" question (list and export open read-only and never change a file by themselves).
#include <cstdio>

#include "cli_args.h"
#include "cli_commands.h"
#include "store/store.h"

namespace optiscope::cli {

const char* const kUpgradeHelp = R"(usage: optiscope-cli upgrade --db FILE

Upgrades a store written by an older Optiscope to this version's store schema, in place and in one
transaction (if it fails, the file stays as it was). Every run and step is kept. Older versions of
Optiscope cannot read the file afterwards. list and export refuse an older store until it is
upgraded; run, demo, ladder and import upgrade it as they write to it.
)";

int cmd_upgrade(const std::vector<std::string>& argv) {
  const Args a(argv, {"--db"}, {});
  const std::string db = a.require("--db");
  int before = 0;
  try {
    before = Store::open(db, Store::Mode::read_only).schema_version();
  } catch (const StoreNeedsMigration& old) {
    before = old.version();
  }
  if (before == kStoreSchemaVersion) {
    std::printf("%s already uses store schema %d; nothing to do\n", db.c_str(), kStoreSchemaVersion);
    return kExitOk;
  }
  Store::migrate(db);
  std::printf("%s upgraded from store schema %d to %d\n", db.c_str(), before, kStoreSchemaVersion);
  return kExitOk;
}

}  // namespace optiscope::cli
