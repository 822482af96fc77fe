#pragma once
// What a run needs, in the words of Hugging Face TrainingArguments where they have a name, so a
// spec file reads like the SFTConfig people already write.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace optiscope {

struct RunSpec {
  std::string model = "tiny";               // preset name or checkpoint folder
  std::string dataset = "synthetic";        // "synthetic", or a .jsonl / .txt path
  std::string dataset_text_field = "text";  // the JSONL field holding each document (TRL's name)
  std::string optim = "adamw_torch";        // TrainingArguments.optim name
  std::string precision = "fp32";           // fp32 | bf16 | fp32_autocast_bf16
  int per_device_train_batch_size = 16;
  int max_seq_length = 64;
  int gradient_accumulation_steps = 1;
  double learning_rate = 3e-3;
  double warmup_ratio = 0.1;
  std::string lr_scheduler_type = "linear";  // linear | constant | cosine
  double weight_decay = 0.0;
  double max_grad_norm = 1.0;
  int max_steps = 120;
  int logging_steps = 1;
  bool gradient_checkpointing = false;  // recompute each layer's activations in backward
  // torchtune's optimizer_in_bwd: each parameter is updated as soon as its gradient exists, and the
  // gradient freed at once. Needs max_grad_norm 0 and gradient_accumulation_steps 1.
  bool optimizer_in_bwd = false;
  // Chunked cross-entropy (torchtune's CEWithChunkedOutputLoss, num_output_chunks): the logits
  // are made this many slices of tokens at a time, in forward and again in backward; 0 = plain loss.
  int loss_chunks = 0;
  // Data parallel over ranks of this host (torchrun's --nproc_per_node): each rank a process with its
  // own micro-batches, gradients averaged over ranks; on cuda rank r uses GPU r. zero_stage shards
  // the optimizer state over the ranks (DeepSpeed's zero_optimization.stage): 0 none, 1 the state,
  // 2 the state and the gradients (reduce-scatter instead of all-reduce).
  int nproc_per_node = 1;
  int zero_stage = 0;
  int eval_steps = 0;                  // evaluation loss every N steps; 0 = none
  double eval_split = 0.0;             // fraction of the documents held out for evaluation
  int per_device_eval_batch_size = 0;  // 0 = per_device_train_batch_size
  int max_eval_samples = 0;            // held-out sequences evaluated; 0 = all of them
  std::uint64_t seed = 42;
  std::string device = "cpu";             // cpu | cuda | cuda:N
  std::uint64_t device_budget_bytes = 0;  // 0 = the whole device
};

/// A comparison runs one spec once per optimizer variant, same seed and data order.
struct ComparisonSpec {
  std::string name = "comparison";
  RunSpec base;
  std::vector<std::string> optims = {"adamw_torch", "adamw_8bit"};
};

class SpecError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Optimizer names Optiscope knows, in the order the UI offers them.
const std::vector<std::string>& known_optimizers();
/// Model presets Optiscope knows.
const std::vector<std::string>& known_model_presets();

/// Every problem with the values, one message each; empty when the spec is usable.
std::vector<std::string> validate(const RunSpec& spec);

std::string to_json(const RunSpec& spec);
std::string to_json(const ComparisonSpec& spec);
/// Parses and validates; throws SpecError naming the key and the problem.
RunSpec run_spec_from_json(const std::string& text);
ComparisonSpec comparison_spec_from_json(const std::string& text);

/// The comparison the product opens with: tiny model, synthetic data, two variants, quick on a laptop.
ComparisonSpec default_comparison();

}  // namespace optiscope
