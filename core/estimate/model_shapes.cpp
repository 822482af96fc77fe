#include "estimate/model_shapes.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "checkpoint/gguf_inspect.h"

namespace optiscope::estimate {

const std::vector<ModelShape>& model_presets() {
  static const std::vector<ModelShape> presets = [] {
    std::vector<ModelShape> all;
    for (const auto& name : llama_preset_names()) all.push_back(ModelShape{llama_preset(name), name});
    return all;
  }();
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

ModelShape shape_from_gguf(const std::string& path) {
  return ModelShape{checkpoint::inspect_gguf(path).config, std::filesystem::path(path).filename().string()};
}

}  // namespace optiscope::estimate
