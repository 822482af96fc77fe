#include "checkpoint/hf_config.h"

#include <nlohmann/json.hpp>

namespace optiscope::checkpoint {
namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& what) {
  throw CheckpointError("config.json: " + what);
}

std::int64_t positive_int(const json& j, const char* key,
                          std::optional<std::int64_t> fallback = std::nullopt) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (fallback) return *fallback;
    fail(std::string("missing '") + key + "'");
  }
  if (!it->is_number_integer() || it->get<std::int64_t>() < 1)
    fail(std::string("'") + key + "' must be a positive integer, not " + it->dump());
  return it->get<std::int64_t>();
}

double number(const json& j, const char* key, double fallback) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number()) fail(std::string("'") + key + "' must be a number, not " + it->dump());
  return it->get<double>();
}

std::optional<std::int64_t> token_id(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  // Llama 3.1 instruct lists several end tokens; the first is the one that ends a document.
  const json& v = it->is_array() && !it->empty() ? (*it)[0] : *it;
  if (!v.is_number_integer() || v.get<std::int64_t>() < 0)
    fail(std::string("'") + key + "' must be a token id");
  return v.get<std::int64_t>();
}

void read_rope(const json& j, LlamaConfig& c) {
  // transformers 5 keeps theta inside rope_parameters; 4.x has it at the top level.
  const json* rope = nullptr;
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    const auto it = j.find(key);
    if (it != j.end() && !it->is_null()) {
      if (!it->is_object()) fail(std::string("'") + key + "' must be an object");
      rope = &*it;
      break;
    }
  }
  c.rope_theta = number(j, "rope_theta", 10000.0);
  c.rope_scaling_factor = 0.0;
  if (rope == nullptr) return;
  c.rope_theta = number(*rope, "rope_theta", c.rope_theta);
  std::string type = rope->value("rope_type", rope->value("type", std::string("default")));
  if (type == "default") return;
  if (type != "llama3") fail("rope type '" + type + "' is not supported (default or llama3)");
  c.rope_scaling_factor = number(*rope, "factor", 0.0);
  if (!(c.rope_scaling_factor > 0.0)) fail("llama3 rope scaling needs a positive 'factor'");
  c.rope_low_freq_factor = number(*rope, "low_freq_factor", 1.0);
  c.rope_high_freq_factor = number(*rope, "high_freq_factor", 4.0);
  if (!(c.rope_high_freq_factor > c.rope_low_freq_factor))
    fail("llama3 rope scaling needs high_freq_factor > low_freq_factor");
  c.rope_original_max_position_embeddings = positive_int(*rope, "original_max_position_embeddings", 8192);
}

}  // namespace

HfModelConfig parse_hf_config(std::string_view json_text) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {
    fail(std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) fail("the top level must be an object");
  if (j.contains("model_type") && j["model_type"] != "llama")
    fail("model_type is " + j["model_type"].dump() + ", only llama is supported");
  if (j.value("hidden_act", std::string("silu")) != "silu") fail("hidden_act must be silu");
  for (const char* key : {"attention_bias", "mlp_bias"}) {
    if (j.contains(key) && j[key] != false)
      fail(std::string("'") + key + "' is not supported (must be false)");
  }
  HfModelConfig out;
  LlamaConfig& c = out.llama;
  c.vocab_size = positive_int(j, "vocab_size");
  c.hidden_size = positive_int(j, "hidden_size");
  c.intermediate_size = positive_int(j, "intermediate_size");
  c.num_hidden_layers = positive_int(j, "num_hidden_layers");
  c.num_attention_heads = positive_int(j, "num_attention_heads");
  c.num_key_value_heads = positive_int(j, "num_key_value_heads", c.num_attention_heads);
  c.head_dim = positive_int(j, "head_dim", c.hidden_size / c.num_attention_heads);
  c.max_position_embeddings = positive_int(j, "max_position_embeddings", 2048);
  c.rms_norm_eps = number(j, "rms_norm_eps", 1e-6);
  c.initializer_range = number(j, "initializer_range", 0.02);
  c.tie_word_embeddings = j.value("tie_word_embeddings", false);
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    fail("num_attention_heads must be a multiple of num_key_value_heads");
  if (c.head_dim % 2 != 0) fail("head_dim must be even for rotary positions");
  if (!(c.rms_norm_eps > 0.0)) fail("rms_norm_eps must be positive");
  read_rope(j, c);
  if (!(c.rope_theta > 0.0)) fail("rope_theta must be positive");
  for (const char* key : {"torch_dtype", "dtype"}) {
    if (j.contains(key) && j[key].is_string()) out.torch_dtype = j[key].get<std::string>();
  }
  out.bos_token_id = token_id(j, "bos_token_id");
  out.eos_token_id = token_id(j, "eos_token_id");
  return out;
}

std::string hf_config_json(const LlamaConfig& c, const std::string& torch_dtype) {
  json j = {{"architectures", {"LlamaForCausalLM"}},
            {"model_type", "llama"},
            {"attention_bias", false},
            {"mlp_bias", false},
            {"hidden_act", "silu"},
            {"vocab_size", c.vocab_size},
            {"hidden_size", c.hidden_size},
            {"intermediate_size", c.intermediate_size},
            {"num_hidden_layers", c.num_hidden_layers},
            {"num_attention_heads", c.num_attention_heads},
            {"num_key_value_heads", c.num_key_value_heads},
            {"head_dim", c.head_dim},
            {"max_position_embeddings", c.max_position_embeddings},
            {"rms_norm_eps", c.rms_norm_eps},
            {"initializer_range", c.initializer_range},
            {"rope_theta", c.rope_theta},
            {"tie_word_embeddings", c.tie_word_embeddings},
            {"torch_dtype", torch_dtype}};
  if (c.rope_scaling_factor > 0.0) {
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", c.rope_scaling_factor},
                         {"low_freq_factor", c.rope_low_freq_factor},
                         {"high_freq_factor", c.rope_high_freq_factor},
                         {"original_max_position_embeddings", c.rope_original_max_position_embeddings}};
  }
  return j.dump(2);
}

}  // namespace optiscope::checkpoint
