#include "spec/smollm2_comparison.h"

#include <filesystem>

namespace optiscope {

ComparisonSpec smollm2_comparison(const std::string& gguf_file, const std::string& corpus_file) {
  ComparisonSpec c;
  c.name = "smollm2-135m on fortunes: adamw_torch vs adamw_8bit vs paged_adamw_32bit vs paged_adamw_8bit";
  c.optims = {"adamw_torch", "adamw_8bit", "paged_adamw_32bit", "paged_adamw_8bit"};
  RunSpec& r = c.base;
  r.model = gguf_file;
  r.dataset = corpus_file;
  r.precision = "fp32";
  r.per_device_train_batch_size = 4;
  r.max_seq_length = 128;
  // Fine-tuning a pretrained model: a small rate, as the article's SFT runs use (2e-4 with LoRA;
  // full fine-tuning of every weight wants less), and a short warm-up.
  r.learning_rate = 5e-5;
  r.warmup_ratio = 0.05;
  r.lr_scheduler_type = "linear";
  r.max_steps = 10;
  r.eval_split = 0.05;
  r.eval_steps = 5;
  r.max_eval_samples = 16;
  r.per_device_eval_batch_size = 8;
  return c;
}

std::optional<std::string> find_in_deps(const std::string& sub, const std::string& name) {
  for (const auto& d : {std::string(".deps"), std::string(OPTISCOPE_SOURCE_DIR "/.deps")}) {
    const auto p = std::filesystem::path(d) / sub / name;
    std::error_code ec;
    if (std::filesystem::is_regular_file(p, ec)) return p.string();
  }
  return std::nullopt;
}

}  // namespace optiscope
