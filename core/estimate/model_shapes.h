#pragma once
// Model geometries the calculator offers. The engine's presets live in optiscope_core (built with
// LibTorch); the calculator must work without it, so it keeps the few numbers it needs here and a
// test checks them against the published parameter counts.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace optiscope::estimate {

struct ModelShape {
  std::string name;
  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_hidden_layers = 0;
  std::int64_t num_attention_heads = 0;
  std::int64_t num_key_value_heads = 0;
  std::int64_t head_dim = 0;
  bool tie_word_embeddings = true;

  std::int64_t parameter_count() const;
};

/// tiny, small, llama-3.2-1b, llama-3.2-3b, llama-3.1-8b (the engine's preset names).
const std::vector<ModelShape>& model_presets();
std::optional<ModelShape> model_preset(const std::string& name);
/// A Llama-like shape with about `parameters` parameters, for "my model has 7 B parameters":
/// activations need a geometry, so one is scaled from Llama 3.1 8B's proportions.
ModelShape shape_for_parameter_count(std::int64_t parameters);

}  // namespace optiscope::estimate
