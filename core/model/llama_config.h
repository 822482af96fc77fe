#pragma once
// Geometry of a Llama 3.x decoder, with the field names of Hugging Face's config.json.
#include <cstdint>
#include <string>
#include <vector>

namespace optiscope {

struct LlamaConfig {
  std::int64_t vocab_size = 272;
  std::int64_t hidden_size = 128;
  std::int64_t intermediate_size = 384;
  std::int64_t num_hidden_layers = 4;
  std::int64_t num_attention_heads = 4;
  std::int64_t num_key_value_heads = 2;
  std::int64_t head_dim = 32;
  std::int64_t max_position_embeddings = 512;
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = true;
  double initializer_range = 0.02;
  // Llama 3 rope scaling ("rope_type": "llama3"); factor 0 means none.
  double rope_scaling_factor = 0.0;
  double rope_low_freq_factor = 1.0;
  double rope_high_freq_factor = 4.0;
  std::int64_t rope_original_max_position_embeddings = 8192;

  /// Parameters the model holds (tied embeddings counted once).
  std::int64_t parameter_count() const;
};

/// tiny, small, llama-3.2-1b, llama-3.2-3b, llama-3.1-8b, in that order.
const std::vector<std::string>& llama_preset_names();

/// One of llama_preset_names(). Throws std::invalid_argument otherwise.
LlamaConfig llama_preset(const std::string& name);

}  // namespace optiscope
