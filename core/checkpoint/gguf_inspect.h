#pragma once
// A GGUF model file (llama.cpp, Ollama) as a run's model, without LibTorch: its geometry and its
// tokenizer's parts. Everything that can be checked without allocating the model is checked here,
// so the CLI can refuse a bad file (exit code 2) before a run starts.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "checkpoint/checkpoint_error.h"
#include "model/llama_config.h"
#include "tokenizer/gguf_vocab.h"

namespace optiscope::checkpoint {

/// A path that names a GGUF file (by its extension, as llama.cpp users name them).
bool is_gguf_path(const std::string& path);

struct GgufModelInfo {
  LlamaConfig config;
  tokenizer::GgufVocab vocab;
  std::optional<std::int64_t> bos_token_id;
  std::optional<std::int64_t> eos_token_id;
  std::int64_t tensors = 0;
};

/// Reads the header through a read-only mapping and checks it all: metadata, geometry, every
/// tensor's shape, the tokenizer's parts, and that the model fits in this machine's memory.
/// Throws CheckpointError with the file's name.
GgufModelInfo inspect_gguf(const std::filesystem::path& file);

}  // namespace optiscope::checkpoint
