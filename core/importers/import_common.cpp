#include "importers/import_common.h"

#include <sqlite3.h>

#include <filesystem>

#include "store/sqlite_statement.h"
#include "store/store.h"

namespace optiscope::importers {

bool plausible_optim_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

std::string file_label(const std::string& path) {
  const std::filesystem::path p = std::filesystem::absolute(path).lexically_normal();
  std::string label = p.filename().string();
  std::filesystem::path dir = p.parent_path();
  // Trainer checkpoints all sit in "checkpoint-N" folders: the folder above names the run.
  for (int i = 0; i < 2 && !dir.empty() && dir.has_filename(); ++i) {
    const std::string d = dir.filename().string();
    label = d + "/" + label;
    if (d.rfind("checkpoint-", 0) != 0) break;
    dir = dir.parent_path();
  }
  return label;
}

namespace {

// One statement of the import's transaction; a full disk keeps its own message (and exit code).
void run_statement(Store& store, const char* sql, const std::string& doing) {
  try {
    detail::exec(store.handle(), sql);
  } catch (const StoreDiskFull&) {
    throw;
  } catch (const StoreError& e) {
    throw StoreError(doing + store.path() + ": " + e.what());
  }
}

}  // namespace

WriteTransaction::WriteTransaction(Store& store) : store_(store) {
  run_statement(store_, "BEGIN IMMEDIATE", "cannot start writing to ");
}

WriteTransaction::~WriteTransaction() {
  if (!done_) detail::rollback_if_open(store_.handle());
}

void WriteTransaction::commit() {
  run_statement(store_, "COMMIT", "cannot commit the import to ");
  done_ = true;
}

}  // namespace optiscope::importers
