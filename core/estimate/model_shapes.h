#pragma once
// Model geometries the calculator offers: the engine's presets (optiscope_model_config, which needs
// no LibTorch), and scaled shapes for a parameter count; a test checks the presets against the
// published parameter counts.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/llama_config.h"

namespace optiscope::estimate {

/// A geometry with the name the calculator shows (parameter_count() comes with LlamaConfig).
struct ModelShape : LlamaConfig {
  std::string name;
};

/// tiny, small, llama-3.2-1b, llama-3.2-3b, llama-3.1-8b (the engine's preset names).
const std::vector<ModelShape>& model_presets();
std::optional<ModelShape> model_preset(const std::string& name);
/// A Llama-like shape with about `parameters` parameters, for "my model has 7 B parameters":
/// activations need a geometry, so one is scaled from Llama 3.1 8B's proportions.
ModelShape shape_for_parameter_count(std::int64_t parameters);
/// The geometry of a GGUF model file (llama.cpp, Ollama), named after the file; throws
/// checkpoint::CheckpointError when the file cannot be used.
ModelShape shape_from_gguf(const std::string& path);

}  // namespace optiscope::estimate
