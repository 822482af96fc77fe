#include "estimate/model_shapes.h"

#include <algorithm>
#include <cmath>

namespace optiscope::estimate {

std::int64_t ModelShape::parameter_count() const {
  const std::int64_t q = hidden_size * num_attention_heads * head_dim;
  const std::int64_t kv = 2 * hidden_size * num_key_value_heads * head_dim;
  const std::int64_t o = num_attention_heads * head_dim * hidden_size;
  const std::int64_t mlp = 3 * hidden_size * intermediate_size;
  const std::int64_t per_layer = q + kv + o + mlp + 2 * hidden_size;
  const std::int64_t embed = vocab_size * hidden_size;
  return embed + (tie_word_embeddings ? 0 : embed) + num_hidden_layers * per_layer + hidden_size;
}

const std::vector<ModelShape>& model_presets() {
  // Same geometries as core/model/llama_config.cpp (Hugging Face config.json of the checkpoints).
  static const std::vector<ModelShape> presets = {
      {"tiny", 272, 128, 384, 4, 4, 2, 32, true},
      {"small", 272, 384, 1024, 6, 6, 2, 64, true},
      {"llama-3.2-1b", 128256, 2048, 8192, 16, 32, 8, 64, true},
      {"llama-3.2-3b", 128256, 3072, 8192, 28, 24, 8, 128, true},
      {"llama-3.1-8b", 128256, 4096, 14336, 32, 32, 8, 128, false},
  };
  return presets;
}

std::optional<ModelShape> model_preset(const std::string& name) {
  const auto& all = model_presets();
  const auto it = std::find_if(all.begin(), all.end(), [&](const ModelShape& m) { return m.name == name; });
  if (it == all.end()) return std::nullopt;
  return *it;
}

ModelShape shape_for_parameter_count(std::int64_t parameters) {
  // Llama 3.1 8B has ~8.03 G parameters at hidden 4096 and 32 layers; parameters grow roughly with
  // layers x hidden^2, and deeper models keep hidden/layers near 128.
  ModelShape m = *model_preset("llama-3.1-8b");
  m.name = "custom";
  const double scale = std::cbrt(std::max<double>(static_cast<double>(parameters), 1e6) / 8.03e9);
  m.hidden_size =
      std::max<std::int64_t>(128, static_cast<std::int64_t>(std::llround(4096 * scale / 128.0)) * 128);
  m.num_hidden_layers = std::max<std::int64_t>(2, std::llround(32 * scale));
  m.num_attention_heads = std::max<std::int64_t>(1, m.hidden_size / 128);
  m.num_key_value_heads = std::min<std::int64_t>(8, m.num_attention_heads);
  m.intermediate_size = m.hidden_size * 7 / 2;
  return m;
}

}  // namespace optiscope::estimate
