#pragma once
// Hugging Face Trainer state (trainer_state.json, written next to every checkpoint) as an Optiscope
// run, so a run recorded with PyTorch and bitsandbytes overlays Optiscope's own curves.
//
// Read from the file (docs/importers.md has the details):
//   log_history[] entries with "loss"      -> one step each: step, loss, learning_rate, and tokens
//                                             from num_input_tokens_seen where logged
//   log_history[] entries with "eval_loss" -> eval_loss of the step logged at the same step
//   the entry with "train_runtime"         -> step time: train_runtime / global_step for every step
//                                             (the Trainer logs no per-step time)
//   args.optim, where a tool saved TrainingArguments into the file -> the run's optimizer
// Python's json module writes NaN and Infinity for diverged losses; they are read, not stored (the
// store keeps finite losses only) and counted in the summary.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "importers/import_common.h"
#include "store/records.h"

namespace optiscope {
class Store;
}

namespace optiscope::importers {

struct TrainerStateData {
  std::string source_path;
  std::string optim;              // args.optim when the file carries TrainingArguments, else empty
  std::vector<StepRecord> steps;  // logged training steps, ascending, eval_loss merged in
  std::int64_t global_step = 0;   // the file's global_step, else the last logged step
  std::optional<std::int64_t> max_steps;
  std::optional<std::int64_t> logging_steps;
  std::optional<double> train_runtime_s;
  std::optional<double> train_samples_per_second;
  std::optional<double> train_steps_per_second;
  std::optional<double> train_loss;
  std::optional<double> total_flos;
  std::size_t log_entries = 0;
  std::size_t eval_points = 0;             // eval_loss values merged into steps
  std::size_t eval_without_train_log = 0;  // eval_loss at a step with no training log: not stored
  std::size_t nonfinite_losses = 0;        // NaN or infinite training losses: not stored
  std::size_t repeated_steps = 0;          // a step logged twice (resumed training): the last kept
};

/// Parses the text of a trainer_state.json; throws ImportError naming the entry and key at fault.
TrainerStateData parse_trainer_state(const std::string& text, const std::string& source_path = {});
/// Reads and parses a file (read-only, at most 256 MiB).
TrainerStateData read_trainer_state(const std::string& path);

struct TrainerStateImportOptions {
  std::string name;   // name of the new comparison; empty: from the file's folder
  std::string optim;  // optimizer of the run; empty: args.optim from the file
};

/// The optimizer name the import will use; throws ImportError when neither the options nor the
/// file name one, or the name is not plausible.
std::string resolve_optim(const TrainerStateData& data, const TrainerStateImportOptions& options);

/// Writes a new comparison with one completed run on device "imported", in one transaction.
ImportResult write_trainer_state(Store& store, const TrainerStateData& data,
                                 const TrainerStateImportOptions& options);

}  // namespace optiscope::importers
