#pragma once
// What every importer shares: the error it raises for a file it cannot take, what it reports back,
// and the one write transaction that makes an import all or nothing.
#include <cstdint>
#include <stdexcept>
#include <string>

namespace optiscope {
class Store;
}

namespace optiscope::importers {

/// A foreign file that cannot be imported: unreadable, malformed, or not in the documented format.
/// Importers raise it before they write anything, or from inside the write transaction, which then
/// rolls back: either way the store is as it was.
class ImportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ImportResult {
  std::int64_t comparison_id = 0;
  std::int64_t run_id = 0;
  bool created_run = false;
  std::string summary;  // a few lines fit for a user
};

/// Optimizer names as TrainingArguments.optim spells them: 1-64 letters, digits, '_', '-' or '.'.
bool plausible_optim_name(const std::string& name);

/// A short label for a foreign file: "folder/file", or "run/checkpoint-500/file" for a checkpoint.
std::string file_label(const std::string& path);

/// BEGIN IMMEDIATE on the store's connection; rolls back unless committed. The Store's own writers
/// (add_comparison, begin_run, append_step, set_capture, finish_run) join it, so an import that
/// fails half-way leaves no comparison, run or row behind.
class WriteTransaction {
 public:
  explicit WriteTransaction(Store& store);
  ~WriteTransaction();
  WriteTransaction(const WriteTransaction&) = delete;
  WriteTransaction& operator=(const WriteTransaction&) = delete;
  void commit();

 private:
  Store& store_;
  bool done_ = false;
};

}  // namespace optiscope::importers
