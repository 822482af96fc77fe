#pragma once
// The weights of a GGUF model file dequantized into a LlamaForCausalLM (gguf_inspect.h reads and
// checks the rest of the file without LibTorch).
#include <torch/torch.h>

#include <filesystem>

#include "checkpoint/gguf_inspect.h"
#include "model/llama.h"

namespace optiscope::checkpoint {

/// Dequantizes every tensor into the model's parameters (converting to their dtype, onto their
/// device), undoing llama.cpp's Q/K row permutation. The model must have the file's geometry.
void load_gguf_weights(const std::filesystem::path& file, LlamaForCausalLMImpl& model);

}  // namespace optiscope::checkpoint
