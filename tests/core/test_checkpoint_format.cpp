#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "checkpoint/hf_config.h"
#include "checkpoint/safetensors_format.h"
#include "checkpoint/safetensors_index.h"

using namespace optiscope;
using namespace optiscope::checkpoint;

namespace {

std::string header_file(const std::string& header_json, std::size_t data_bytes) {
  std::string out(8, '\0');
  const std::uint64_t n = header_json.size();
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return out + header_json + std::string(data_bytes, '\0');
}

std::string parse_error(const std::string& file) {
  try {
    parse_safetensors_header(file, file.size(), "t.safetensors");
  } catch (const CheckpointError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(SafetensorsFormat, WritesAndParsesBack) {
  const float values[3] = {1.0f, 2.0f, 3.0f};
  const std::uint16_t halves[2] = {0x3F80, 0x4000};
  const std::string bytes = write_safetensors(
      {{"a.weight", "F32", {3}, std::string_view(reinterpret_cast<const char*>(values), sizeof values)},
       {"b", "BF16", {1, 2}, std::string_view(reinterpret_cast<const char*>(halves), sizeof halves)}},
      {{"format", "pt"}});
  const auto h = parse_safetensors_header(bytes, bytes.size());
  EXPECT_EQ(h.data_start % 8, 0u);
  ASSERT_EQ(h.tensors.size(), 2u);
  EXPECT_EQ(h.tensors[0].name, "a.weight");
  EXPECT_EQ(h.tensors[0].shape, (std::vector<std::int64_t>{3}));
  EXPECT_EQ(h.tensors[1].dtype, "BF16");
  EXPECT_EQ(h.metadata.at("format"), "pt");
  EXPECT_EQ(std::memcmp(bytes.data() + h.data_start + h.tensors[0].begin, values, sizeof values), 0);
}

TEST(SafetensorsFormat, RefusesBadHeadersWithReasons) {
  EXPECT_NE(parse_error("abc").find("truncated"), std::string::npos);
  EXPECT_NE(parse_error(header_file("{\"a\":", 0)).find("not valid JSON"), std::string::npos);
  EXPECT_NE(parse_error(header_file("[]", 0)).find("not a JSON object"), std::string::npos);
  EXPECT_NE(parse_error(header_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4))
                .find("outside"),
            std::string::npos);
  EXPECT_NE(
      parse_error(header_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8)).find("need"),
      std::string::npos);
  EXPECT_NE(
      parse_error(header_file(R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", 8)).find("dtype"),
      std::string::npos);
  EXPECT_NE(
      parse_error(header_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8)).find("shape"),
      std::string::npos);
  EXPECT_NE(parse_error(header_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                    R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                    12))
                .find("overlap"),
            std::string::npos);
  EXPECT_NE(
      parse_error(
          header_file(R"({"a":{"dtype":"U8","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", 8))
          .find("overflow"),
      std::string::npos);
  // A header length past the file: a truncated download.
  std::string big = header_file("{}", 0);
  big[0] = 100;
  EXPECT_NE(parse_error(big).find("truncated"), std::string::npos);
}

TEST(HfConfig, ReadsTransformers5AndTransformers4Spellings) {
  const auto v5 =
      parse_hf_config(R"({"model_type":"llama","vocab_size":300,"hidden_size":64,"intermediate_size":160,
    "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"head_dim":16,"max_position_embeddings":256,
    "rms_norm_eps":1e-6,"tie_word_embeddings":false,"dtype":"float32","bos_token_id":1,"eos_token_id":[2,3],
    "rope_parameters":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,
                       "original_max_position_embeddings":64,"rope_theta":500000.0}})");
  EXPECT_EQ(v5.llama.num_key_value_heads, 2);
  EXPECT_EQ(v5.llama.head_dim, 16);
  EXPECT_DOUBLE_EQ(v5.llama.rope_theta, 500000.0);
  EXPECT_DOUBLE_EQ(v5.llama.rope_scaling_factor, 8.0);
  EXPECT_EQ(v5.llama.rope_original_max_position_embeddings, 64);
  EXPECT_FALSE(v5.llama.tie_word_embeddings);
  EXPECT_EQ(v5.eos_token_id, 2);
  EXPECT_EQ(v5.bos_token_id, 1);

  const auto v4 = parse_hf_config(R"({"vocab_size":128256,"hidden_size":2048,"intermediate_size":8192,
    "num_hidden_layers":16,"num_attention_heads":32,"num_key_value_heads":8,"rope_theta":500000.0,
    "tie_word_embeddings":true,"torch_dtype":"bfloat16",
    "rope_scaling":{"rope_type":"llama3","factor":32.0,"low_freq_factor":1.0,"high_freq_factor":4.0,
                    "original_max_position_embeddings":8192}})");
  EXPECT_EQ(v4.llama.head_dim, 64) << "hidden_size / heads when head_dim is absent";
  EXPECT_EQ(v4.torch_dtype, "bfloat16");
  EXPECT_DOUBLE_EQ(v4.llama.rope_scaling_factor, 32.0);
  EXPECT_EQ(v4.llama.parameter_count(), llama_preset("llama-3.2-1b").parameter_count());

  const auto round = parse_hf_config(hf_config_json(llama_preset("llama-3.1-8b"), "bfloat16"));
  EXPECT_EQ(round.llama.parameter_count(), llama_preset("llama-3.1-8b").parameter_count());
  EXPECT_DOUBLE_EQ(round.llama.rope_scaling_factor, 8.0);
}

TEST(HfConfig, RefusesWhatTheDecoderCannotRun) {
  const auto error = [](const std::string& text) {
    try {
      parse_hf_config(text);
    } catch (const CheckpointError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string base =
      R"("vocab_size":300,"hidden_size":64,"intermediate_size":160,"num_hidden_layers":2,"num_attention_heads":4)";
  EXPECT_EQ(error("{" + base + "}"), "no error");
  EXPECT_NE(error("{oops"), "no error");
  EXPECT_NE(error(R"({"hidden_size":64})").find("vocab_size"), std::string::npos);
  EXPECT_NE(error("{" + base + R"(,"model_type":"mistral"})").find("model_type"), std::string::npos);
  EXPECT_NE(error("{" + base + R"(,"attention_bias":true})").find("attention_bias"), std::string::npos);
  EXPECT_NE(error("{" + base + R"(,"hidden_act":"gelu"})").find("hidden_act"), std::string::npos);
  EXPECT_NE(error("{" + base + R"(,"num_key_value_heads":3})").find("multiple"), std::string::npos);
  EXPECT_NE(error("{" + base + R"(,"rope_scaling":{"rope_type":"yarn","factor":4.0}})").find("yarn"),
            std::string::npos);
  EXPECT_NE(error(R"({"vocab_size":"big","hidden_size":64})").find("vocab_size"), std::string::npos);
}

TEST(SafetensorsIndex, MapsTensorsToShardFiles) {
  const auto map =
      parse_safetensors_index(safetensors_index_json({{"a", "model-00001-of-00002.safetensors"}}, 12));
  EXPECT_EQ(map.at("a"), "model-00001-of-00002.safetensors");
  EXPECT_THROW(parse_safetensors_index("{}"), CheckpointError);
  EXPECT_THROW(parse_safetensors_index(R"({"weight_map":{"a":"../etc/passwd"}})"), CheckpointError);
  EXPECT_THROW(parse_safetensors_index(R"({"weight_map":{"a":3}})"), CheckpointError);
}
