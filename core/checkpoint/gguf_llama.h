#pragma once
// A GGUF file of architecture "llama" as a Hugging Face LlamaForCausalLM: the llama.* metadata
// mapped to the model's geometry, llama.cpp's tensor names mapped to transformers' parameter
// names, and every tensor checked against the geometry before anything is allocated for it.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "checkpoint/gguf_format.h"
#include "model/llama_config.h"

namespace optiscope::checkpoint {

/// The geometry the llama.* keys describe. Throws CheckpointError naming the key for another
/// architecture, a missing or out-of-range value, or a feature this decoder lacks (partial
/// rotary, rope scaling tables). Embeddings are tied when the file has no output.weight.
LlamaConfig gguf_llama_config(const GgufHeader& header, const std::string& what);

/// transformers' parameter name for a llama.cpp tensor name ("blk.3.attn_q.weight" ->
/// "model.layers.3.self_attn.q_proj.weight"), or nothing for a name outside the Llama layout.
std::optional<std::string> hf_parameter_name(std::string_view gguf_name);

/// True for the tensors llama.cpp's converter permuted (attn_q, attn_k): their rows are stored
/// per head as [even rotary halves interleaved], and must be put back in transformers' order.
bool gguf_rows_permuted(std::string_view gguf_name);

/// Every tensor has a place in the model with the geometry's shape, and every weight the model
/// needs is present. Throws CheckpointError naming the first tensor that does not fit.
void check_gguf_tensors(const GgufHeader& header, const LlamaConfig& config, const std::string& what);

/// Refuses (CheckpointError) a model whose parameters, at bytes_per_parameter, would take more
/// than physical_bytes: the check that comes before the model is allocated.
void check_fits_in_memory(std::int64_t parameters, std::int64_t bytes_per_parameter,
                          std::uint64_t physical_bytes, const std::string& what);

}  // namespace optiscope::checkpoint
