#pragma once
// Hugging Face checkpoint folders with LibTorch: config.json, model.safetensors or shards listed in
// model.safetensors.index.json, read into (and written from) a LlamaForCausalLM by parameter name.
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "checkpoint/hf_config.h"
#include "model/llama.h"

namespace optiscope::checkpoint {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

/// A folder that holds a config.json: what RunSpec::model names when it is not a preset.
bool is_checkpoint_folder(const std::string& path);

/// Reads and parses folder/config.json (CheckpointError if missing or bad).
HfModelConfig read_config(const std::filesystem::path& folder);

/// Every tensor of one safetensors file, on the CPU in the file's dtype.
NamedTensors read_safetensors(const std::filesystem::path& file);
void write_safetensors(const std::filesystem::path& file, const NamedTensors& tensors);

/// Copies the checkpoint's weights into the model's parameters (converting dtype, onto their
/// device). Every parameter must be found with its shape; tensors the model has no place for are
/// an error, except rotary tables and an lm_head.weight that tied embeddings make redundant.
void load_weights(const std::filesystem::path& folder, LlamaForCausalLMImpl& model);

/// Writes config.json and the weights, in shards of at most max_shard_bytes (0: one file).
void save_checkpoint(const std::filesystem::path& folder, LlamaForCausalLMImpl& model,
                     std::uint64_t max_shard_bytes = 0);

}  // namespace optiscope::checkpoint
