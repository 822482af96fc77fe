#include "checkpoint/gguf_llama.h"

#include <map>

namespace optiscope::checkpoint {
namespace {

// Limits far above any Llama-family model (Llama 3.1 405B: hidden 16384, 126 layers, 128 heads,
// vocabulary 128256), so that absurd values are refused before they size anything.
constexpr std::int64_t kMaxHidden = 1 << 17;
constexpr std::int64_t kMaxLayers = 1 << 10;
constexpr std::int64_t kMaxHeads = 1 << 12;
constexpr std::int64_t kMaxVocab = 1 << 24;
constexpr std::int64_t kMaxPositions = 1 << 24;

std::int64_t bounded(const GgufHeader& h, const std::string& key, std::int64_t max, const std::string& what,
                     std::optional<std::int64_t> fallback = std::nullopt) {
  const auto* v = h.find(key);
  if (v == nullptr) {
    if (fallback) return *fallback;
    throw CheckpointError(what + ": GGUF metadata has no '" + key + "'");
  }
  const auto n = v->as_int(key);
  if (n < 1 || n > max)
    throw CheckpointError(what + ": " + key + " = " + std::to_string(n) + " is out of range (1 to " +
                          std::to_string(max) + ")");
  return n;
}

// llama.cpp's per-layer names (tensor_mapping.py) and the transformers module they stand for.
const std::map<std::string, std::string, std::less<>>& layer_names() {
  static const std::map<std::string, std::string, std::less<>> names = {
      {"attn_norm.weight", "input_layernorm.weight"},
      {"attn_q.weight", "self_attn.q_proj.weight"},
      {"attn_k.weight", "self_attn.k_proj.weight"},
      {"attn_v.weight", "self_attn.v_proj.weight"},
      {"attn_output.weight", "self_attn.o_proj.weight"},
      {"ffn_norm.weight", "post_attention_layernorm.weight"},
      {"ffn_gate.weight", "mlp.gate_proj.weight"},
      {"ffn_up.weight", "mlp.up_proj.weight"},
      {"ffn_down.weight", "mlp.down_proj.weight"},
  };
  return names;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// The shape transformers gives each parameter of this geometry, by GGUF name.
std::map<std::string, std::vector<std::int64_t>> expected_shapes(const LlamaConfig& c) {
  const std::int64_t q = c.num_attention_heads * c.head_dim;
  const std::int64_t kv = c.num_key_value_heads * c.head_dim;
  std::map<std::string, std::vector<std::int64_t>> shapes = {
      {"token_embd.weight", {c.vocab_size, c.hidden_size}},
      {"output_norm.weight", {c.hidden_size}},
  };
  if (!c.tie_word_embeddings) shapes["output.weight"] = {c.vocab_size, c.hidden_size};
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    shapes[p + "attn_norm.weight"] = {c.hidden_size};
    shapes[p + "ffn_norm.weight"] = {c.hidden_size};
    shapes[p + "attn_q.weight"] = {q, c.hidden_size};
    shapes[p + "attn_k.weight"] = {kv, c.hidden_size};
    shapes[p + "attn_v.weight"] = {kv, c.hidden_size};
    shapes[p + "attn_output.weight"] = {c.hidden_size, q};
    shapes[p + "ffn_gate.weight"] = {c.intermediate_size, c.hidden_size};
    shapes[p + "ffn_up.weight"] = {c.intermediate_size, c.hidden_size};
    shapes[p + "ffn_down.weight"] = {c.hidden_size, c.intermediate_size};
  }
  return shapes;
}

}  // namespace

LlamaConfig gguf_llama_config(const GgufHeader& h, const std::string& what) {
  const auto arch = h.at("general.architecture").as_string("general.architecture");
  if (arch != "llama")
    throw CheckpointError(what + ": GGUF architecture '" + arch + "' is not supported (only 'llama' is)");
  LlamaConfig c;
  c.hidden_size = bounded(h, "llama.embedding_length", kMaxHidden, what);
  c.num_hidden_layers = bounded(h, "llama.block_count", kMaxLayers, what);
  c.intermediate_size = bounded(h, "llama.feed_forward_length", kMaxHidden * 8, what);
  c.num_attention_heads = bounded(h, "llama.attention.head_count", kMaxHeads, what);
  c.num_key_value_heads = bounded(h, "llama.attention.head_count_kv", kMaxHeads, what, c.num_attention_heads);
  c.max_position_embeddings = bounded(h, "llama.context_length", kMaxPositions, what);
  if (c.hidden_size % c.num_attention_heads != 0 && h.find("llama.attention.key_length") == nullptr)
    throw CheckpointError(what + ": embedding_length " + std::to_string(c.hidden_size) +
                          " is not a multiple of head_count " + std::to_string(c.num_attention_heads));
  c.head_dim =
      bounded(h, "llama.attention.key_length", kMaxHidden, what, c.hidden_size / c.num_attention_heads);
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    throw CheckpointError(what + ": head_count " + std::to_string(c.num_attention_heads) +
                          " is not a multiple of head_count_kv " + std::to_string(c.num_key_value_heads));
  if (c.head_dim % 2 != 0) throw CheckpointError(what + ": the head size must be even for rotary positions");
  const auto rotary = bounded(h, "llama.rope.dimension_count", kMaxHidden, what, c.head_dim);
  if (rotary != c.head_dim)
    throw CheckpointError(what + ": partial rotary (rope.dimension_count " + std::to_string(rotary) +
                          " of a head size " + std::to_string(c.head_dim) + ") is not supported");
  if (h.find("llama.rope.scaling.type") != nullptr || h.tensor("rope_freqs.weight") != nullptr)
    throw CheckpointError(what + ": rope scaling is not supported for GGUF files yet");
  if (const auto* v = h.find("llama.rope.freq_base")) c.rope_theta = v->as_float("llama.rope.freq_base");
  c.rms_norm_eps =
      h.at("llama.attention.layer_norm_rms_epsilon").as_float("llama.attention.layer_norm_rms_epsilon");
  if (!(c.rope_theta > 0.0) || !(c.rms_norm_eps > 0.0) || !(c.rms_norm_eps < 1.0))
    throw CheckpointError(what + ": rope.freq_base or layer_norm_rms_epsilon is out of range");
  // The vocabulary: llama.vocab_size when written, else the tokenizer's token count.
  if (h.find("llama.vocab_size") != nullptr) {
    c.vocab_size = bounded(h, "llama.vocab_size", kMaxVocab, what);
  } else {
    const GgufValue* tokens = &h.at("tokenizer.ggml.tokens");  // a pointer: see gguf_format.h
    if (!tokens->is_array() || tokens->array_size() < 1 ||
        tokens->array_size() > static_cast<std::uint64_t>(kMaxVocab))
      throw CheckpointError(what + ": tokenizer.ggml.tokens is not a usable vocabulary");
    c.vocab_size = static_cast<std::int64_t>(tokens->array_size());
  }
  c.tie_word_embeddings = h.tensor("output.weight") == nullptr;
  c.rope_scaling_factor = 0.0;
  return c;
}

std::optional<std::string> hf_parameter_name(std::string_view name) {
  if (name == "token_embd.weight") return "model.embed_tokens.weight";
  if (name == "output_norm.weight") return "model.norm.weight";
  if (name == "output.weight") return "lm_head.weight";
  if (!name.starts_with("blk.")) return std::nullopt;
  const auto dot = name.find('.', 4);
  if (dot == std::string_view::npos || dot == 4) return std::nullopt;
  const auto layer = name.substr(4, dot - 4);
  if (layer.find_first_not_of("0123456789") != std::string_view::npos || layer.size() > 6)
    return std::nullopt;
  const auto it = layer_names().find(name.substr(dot + 1));
  if (it == layer_names().end()) return std::nullopt;
  return "model.layers." + std::string(layer) + "." + it->second;
}

bool gguf_rows_permuted(std::string_view name) {
  return name.ends_with(".attn_q.weight") || name.ends_with(".attn_k.weight");
}

void check_gguf_tensors(const GgufHeader& h, const LlamaConfig& config, const std::string& what) {
  auto expected = expected_shapes(config);
  for (const auto& t : h.tensors) {
    const auto it = expected.find(t.name);
    if (it == expected.end())
      throw CheckpointError(what + ": tensor '" + t.name +
                            "' has no place in a Llama model of this geometry");
    if (it->second != t.shape)
      throw CheckpointError(what + ": tensor '" + t.name + "' has shape " + shape_text(t.shape) +
                            ", the metadata's geometry needs " + shape_text(it->second));
    expected.erase(it);
  }
  if (!expected.empty())
    throw CheckpointError(what + ": the file lacks " + std::to_string(expected.size()) +
                          " weight(s), e.g. '" + expected.begin()->first + "'");
}

void check_fits_in_memory(std::int64_t parameters, std::int64_t bytes_per_parameter,
                          std::uint64_t physical_bytes, const std::string& what) {
  const double need = static_cast<double>(parameters) * static_cast<double>(bytes_per_parameter);
  if (need > static_cast<double>(physical_bytes))
    throw CheckpointError(what + ": the model has " + std::to_string(parameters) + " parameters, " +
                          std::to_string(need / (1u << 30)) + " GiB as built, more than this machine's " +
                          std::to_string(static_cast<double>(physical_bytes) / (1u << 30)) +
                          " GiB of memory");
}

}  // namespace optiscope::checkpoint
