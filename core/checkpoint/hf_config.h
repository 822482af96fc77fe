#pragma once
// config.json of a Hugging Face Llama checkpoint → LlamaConfig, for the field spellings of both
// transformers 4.x ("rope_scaling", "torch_dtype") and 5.x ("rope_parameters", "dtype").
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "checkpoint/checkpoint_error.h"
#include "model/llama_config.h"

namespace optiscope::checkpoint {

struct HfModelConfig {
  LlamaConfig llama;
  std::string torch_dtype = "float32";  // as saved: float32, bfloat16, float16
  std::optional<std::int64_t> bos_token_id;
  std::optional<std::int64_t> eos_token_id;  // the first one when the file lists several
};

/// Throws CheckpointError naming the field for malformed JSON, a missing field, a wrong type, or
/// an architecture this decoder does not implement (biases, other activations, other rope types).
HfModelConfig parse_hf_config(std::string_view json_text);

/// The config.json transformers would write for this geometry (used to build test checkpoints).
std::string hf_config_json(const LlamaConfig& config, const std::string& torch_dtype = "float32");

}  // namespace optiscope::checkpoint
