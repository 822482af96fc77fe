#include "model/llama_config.h"

#include <stdexcept>

namespace optiscope {

std::int64_t LlamaConfig::parameter_count() const {
  const std::int64_t q = hidden_size * num_attention_heads * head_dim;
  const std::int64_t kv = 2 * hidden_size * num_key_value_heads * head_dim;
  const std::int64_t o = num_attention_heads * head_dim * hidden_size;
  const std::int64_t mlp = 3 * hidden_size * intermediate_size;
  const std::int64_t norms = 2 * hidden_size;
  const std::int64_t per_layer = q + kv + o + mlp + norms;
  const std::int64_t embed = vocab_size * hidden_size;
  return embed + (tie_word_embeddings ? 0 : embed) + num_hidden_layers * per_layer + hidden_size;
}

const std::vector<std::string>& llama_preset_names() {
  static const std::vector<std::string> names = {"tiny", "small", "llama-3.2-1b", "llama-3.2-3b",
                                                 "llama-3.1-8b"};
  return names;
}

LlamaConfig llama_preset(const std::string& name) {
  LlamaConfig c;
  if (name == "tiny") return c;  // the defaults: ~0.9 M parameters, byte-level vocabulary
  if (name == "small") {
    c.hidden_size = 384;
    c.intermediate_size = 1024;
    c.num_hidden_layers = 6;
    c.num_attention_heads = 6;
    c.num_key_value_heads = 2;
    c.head_dim = 64;
    return c;
  }
  // The real Llama 3.x geometries (Hugging Face config.json of the meta-llama checkpoints).
  c.vocab_size = 128256;
  c.max_position_embeddings = 131072;
  c.rope_theta = 500000.0;
  c.rope_low_freq_factor = 1.0;
  c.rope_high_freq_factor = 4.0;
  c.rope_original_max_position_embeddings = 8192;
  c.num_key_value_heads = 8;
  if (name == "llama-3.2-1b") {
    c.hidden_size = 2048;
    c.intermediate_size = 8192;
    c.num_hidden_layers = 16;
    c.num_attention_heads = 32;
    c.head_dim = 64;
    c.tie_word_embeddings = true;
    c.rope_scaling_factor = 32.0;
    return c;
  }
  if (name == "llama-3.2-3b") {
    c.hidden_size = 3072;
    c.intermediate_size = 8192;
    c.num_hidden_layers = 28;
    c.num_attention_heads = 24;
    c.head_dim = 128;
    c.tie_word_embeddings = true;
    c.rope_scaling_factor = 32.0;
    return c;
  }
  if (name == "llama-3.1-8b") {
    c.hidden_size = 4096;
    c.intermediate_size = 14336;
    c.num_hidden_layers = 32;
    c.num_attention_heads = 32;
    c.head_dim = 128;
    c.tie_word_embeddings = false;
    c.rope_scaling_factor = 8.0;
    return c;
  }
  throw std::invalid_argument("unknown model preset '" + name + "'");
}

}  // namespace optiscope
