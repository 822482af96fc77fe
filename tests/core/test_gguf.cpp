// The GGUF reader without LibTorch: header and metadata, dequantization of every supported type
// against hand-made blocks, the llama geometry and tensor checks, and refusals of lying files.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "checkpoint/gguf_dequant.h"
#include "checkpoint/gguf_format.h"
#include "checkpoint/gguf_llama.h"
#include "gguf_writer.h"

using namespace optiscope::checkpoint;
using optiscope::testing::exact_half;
using optiscope::testing::GgufWriter;

namespace {

std::string u16s(const std::vector<std::uint16_t>& v) {
  std::string s;
  for (const auto x : v) GgufWriter::put(s, x);
  return s;
}

std::string f32s(const std::vector<float>& v) {
  std::string s;
  for (const auto x : v) GgufWriter::put(s, x);
  return s;
}

std::vector<float> run(GgmlType type, const std::string& bytes, std::int64_t n) {
  std::vector<float> out(static_cast<std::size_t>(n));
  dequantize(type, bytes, n, out.data());
  return out;
}

// A tiny Llama in GGUF: hidden 8, 2 heads of 4, 1 KV head, 1 layer, FFN 16, vocabulary 32, F32.
GgufWriter tiny_llama(bool with_output = false) {
  GgufWriter w;
  w.kv_string("general.architecture", "llama");
  w.kv_u32("general.alignment", 32);
  w.kv_u32("llama.embedding_length", 8);
  w.kv_u32("llama.block_count", 1);
  w.kv_u32("llama.feed_forward_length", 16);
  w.kv_u32("llama.attention.head_count", 2);
  w.kv_u32("llama.attention.head_count_kv", 1);
  w.kv_u32("llama.context_length", 128);
  w.kv_f32("llama.rope.freq_base", 100000.0f);
  w.kv_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.kv_u32("llama.vocab_size", 32);
  const auto zeros = [](std::size_t n) { return std::string(n * 4, '\0'); };
  w.tensor("token_embd.weight", {8, 32}, 0, zeros(256));
  w.tensor("output_norm.weight", {8}, 0, zeros(8));
  if (with_output) w.tensor("output.weight", {8, 32}, 0, zeros(256));
  w.tensor("blk.0.attn_norm.weight", {8}, 0, zeros(8));
  w.tensor("blk.0.ffn_norm.weight", {8}, 0, zeros(8));
  w.tensor("blk.0.attn_q.weight", {8, 8}, 0, zeros(64));
  w.tensor("blk.0.attn_k.weight", {8, 4}, 0, zeros(32));
  w.tensor("blk.0.attn_v.weight", {8, 4}, 0, zeros(32));
  w.tensor("blk.0.attn_output.weight", {8, 8}, 0, zeros(64));
  w.tensor("blk.0.ffn_gate.weight", {8, 16}, 0, zeros(128));
  w.tensor("blk.0.ffn_up.weight", {8, 16}, 0, zeros(128));
  w.tensor("blk.0.ffn_down.weight", {16, 8}, 0, zeros(128));
  return w;
}

std::string refusal(const std::string& bytes) {
  try {
    (void)parse_gguf(bytes, "bad.gguf");
  } catch (const CheckpointError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(GgufDequant, HalfToFloatCoversEveryKindOfValue) {
  EXPECT_EQ(half_to_float(0x3C00), 1.0f);
  EXPECT_EQ(half_to_float(0xC000), -2.0f);
  EXPECT_EQ(half_to_float(0x3555), 0.333251953125f);
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(half_to_float(0x7BFF), 65504.0f);
  EXPECT_TRUE(std::isinf(half_to_float(0x7C00)));
  EXPECT_TRUE(std::isnan(half_to_float(0x7E00)));
  EXPECT_TRUE(std::signbit(half_to_float(0x8000)));
}

TEST(GgufDequant, PlainFloatTypes) {
  EXPECT_EQ(run(GgmlType::f32, f32s({1.5f, -2.25f}), 2), (std::vector<float>{1.5f, -2.25f}));
  EXPECT_EQ(run(GgmlType::f16, u16s({exact_half(0.5f), exact_half(-3.0f)}), 2),
            (std::vector<float>{0.5f, -3.0f}));
  // bf16 is the top half of the float's bits.
  EXPECT_EQ(run(GgmlType::bf16, u16s({0x3FC0, 0xC120}), 2), (std::vector<float>{1.5f, -10.0f}));
}

TEST(GgufDequant, Q8_0IsScaleTimesSignedBytes) {
  std::string block = u16s({exact_half(0.25f)});
  for (int j = 0; j < 32; ++j) block.push_back(static_cast<char>(static_cast<std::int8_t>(j * 8 - 128)));
  const auto out = run(GgmlType::q8_0, block, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(out[j], 0.25f * static_cast<float>(j * 8 - 128)) << j;
}

TEST(GgufDequant, Q4_0LowNibblesFirstThenHighOffsetByEight) {
  std::string blocks;
  for (const float d : {2.0f, -0.5f}) {
    blocks += u16s({exact_half(d)});
    for (int j = 0; j < 16; ++j) blocks.push_back(static_cast<char>((j & 0x0F) | ((15 - j) << 4)));
  }
  const auto out = run(GgmlType::q4_0, blocks, 64);
  for (int b = 0; b < 2; ++b) {
    const float d = b == 0 ? 2.0f : -0.5f;
    for (int j = 0; j < 16; ++j) {
      EXPECT_EQ(out[b * 32 + j], d * static_cast<float>(j - 8));
      EXPECT_EQ(out[b * 32 + j + 16], d * static_cast<float>(15 - j - 8));
    }
  }
}

TEST(GgufDequant, Q4_1IsScaleTimesNibblePlusMinimum) {
  std::string block = u16s({exact_half(0.125f), exact_half(-1.0f)});
  for (int j = 0; j < 16; ++j) block.push_back(static_cast<char>(j | ((j ^ 0x0A) << 4)));
  const auto out = run(GgmlType::q4_1, block, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(out[j], 0.125f * static_cast<float>(j) - 1.0f);
    EXPECT_EQ(out[j + 16], 0.125f * static_cast<float>(j ^ 0x0A) - 1.0f);
  }
}

TEST(GgufDequant, RefusesByteCountsThatDoNotMatch) {
  std::vector<float> out(64);
  EXPECT_THROW(dequantize(GgmlType::q4_1, std::string(19, '\0'), 32, out.data()), CheckpointError);
  EXPECT_THROW(dequantize(GgmlType::q8_0, std::string(34, '\0'), 31, out.data()), CheckpointError);
  EXPECT_THROW(dequantize(GgmlType::f32, std::string(7, '\0'), 2, out.data()), CheckpointError);
}

TEST(GgufFormat, ReadsHeaderMetadataAndTensorInfos) {
  GgufWriter w = tiny_llama();
  w.kv_strings("tokenizer.ggml.tokens", {"a", "b", "<|x|>"});
  w.kv_i32s("tokenizer.ggml.token_type", {1, 1, 3});
  const auto bytes = w.finish();
  const auto h = parse_gguf(bytes, "tiny.gguf");
  EXPECT_EQ(h.version, 3u);
  EXPECT_EQ(h.at("general.architecture").as_string("a"), "llama");
  EXPECT_EQ(h.at("llama.embedding_length").as_int("e"), 8);
  EXPECT_FLOAT_EQ(static_cast<float>(h.at("llama.rope.freq_base").as_float("r")), 100000.0f);
  EXPECT_EQ(h.at("tokenizer.ggml.tokens").as_strings("t"), (std::vector<std::string>{"a", "b", "<|x|>"}));
  EXPECT_EQ(h.at("tokenizer.ggml.token_type").as_ints("t"), (std::vector<std::int64_t>{1, 1, 3}));
  EXPECT_THROW((void)h.at("llama.block_count").as_string("llama.block_count"), CheckpointError);
  EXPECT_THROW((void)h.at("missing"), CheckpointError);
  ASSERT_EQ(h.tensors.size(), 11u);
  const auto* embd = h.tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->shape, (std::vector<std::int64_t>{32, 8}));  // torch order: rows first
  EXPECT_EQ(embd->bytes, 32u * 8u * 4u);
  EXPECT_EQ(h.data_start % 32, 0u);
  EXPECT_EQ(bytes.size(), h.data_start + h.tensors.back().offset + h.tensors.back().bytes);
}

TEST(GgufFormat, RefusesWrongMagicAndVersion) {
  auto bytes = tiny_llama().finish();
  auto magic = bytes;
  magic[0] = 'X';
  EXPECT_NE(refusal(magic).find("not a GGUF file"), std::string::npos);
  EXPECT_NE(refusal(tiny_llama().finish(32, 1)).find("version 1"), std::string::npos);
  EXPECT_NE(refusal(tiny_llama().finish(32, 4)).find("version 4"), std::string::npos);
  EXPECT_NE(refusal("GG").find("not a GGUF file"), std::string::npos);
}

TEST(GgufFormat, EveryTruncationIsRefusedWithoutCrashing) {
  const auto bytes = tiny_llama().finish();
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    const auto message = refusal(bytes.substr(0, n));
    EXPECT_FALSE(message.empty()) << "a file cut to " << n << " of " << bytes.size() << " bytes was accepted";
  }
  EXPECT_EQ(refusal(bytes), "");
}

TEST(GgufFormat, RefusesCountsAndLengthsTheFileCannotHold) {
  // Absurd counts in the header: refused from the file size alone, before anything is sized.
  std::string h = "GGUF";
  GgufWriter::put<std::uint32_t>(h, 3);
  GgufWriter::put<std::uint64_t>(h, std::uint64_t{1} << 60);
  GgufWriter::put<std::uint64_t>(h, 0);
  EXPECT_NE(refusal(h + std::string(64, '\0')).find("tensors, more than the file holds"), std::string::npos);
  std::string k = "GGUF";
  GgufWriter::put<std::uint32_t>(k, 3);
  GgufWriter::put<std::uint64_t>(k, 0);
  GgufWriter::put<std::uint64_t>(k, ~std::uint64_t{0});
  EXPECT_NE(refusal(k + std::string(64, '\0')).find("metadata entries"), std::string::npos);
  // A string length that lies.
  std::string s = "GGUF";
  GgufWriter::put<std::uint32_t>(s, 3);
  GgufWriter::put<std::uint64_t>(s, 0);
  GgufWriter::put<std::uint64_t>(s, 1);
  GgufWriter::put<std::uint64_t>(s, std::uint64_t{1} << 62);
  EXPECT_NE(refusal(s + std::string(64, 'k')).find("truncated"), std::string::npos);
  // An array of strings with a huge count.
  std::string a = "GGUF";
  GgufWriter::put<std::uint32_t>(a, 3);
  GgufWriter::put<std::uint64_t>(a, 0);
  GgufWriter::put<std::uint64_t>(a, 1);
  GgufWriter::put_string(a, "tokenizer.ggml.tokens");
  GgufWriter::put<std::uint32_t>(a, 9);
  GgufWriter::put<std::uint32_t>(a, 8);
  GgufWriter::put<std::uint64_t>(a, std::uint64_t{1} << 40);
  EXPECT_NE(refusal(a + std::string(64, '\0')).find("more than the file could hold"), std::string::npos);
}

TEST(GgufFormat, RefusesUnknownTypesAndLyingTensors) {
  GgufWriter unknown_value;
  unknown_value.kv_u32("x", 1);
  auto bytes = unknown_value.finish();
  bytes[24 + 8 + 1] = 13;  // the value type after the key "x": 13 is not a GGUF type
  EXPECT_NE(refusal(bytes).find("unknown value type 13"), std::string::npos);

  GgufWriter q5;
  q5.tensor("t", {32}, 6, std::string(22, '\0'));  // Q5_0
  EXPECT_NE(refusal(q5.finish()).find("cannot dequantize"), std::string::npos);

  GgufWriter rows;
  rows.tensor("t", {16}, 8, std::string(34, '\0'));  // Q8_0 rows must be whole blocks of 32
  EXPECT_NE(refusal(rows.finish()).find("whole Q8_0 blocks"), std::string::npos);

  GgufWriter past_end;
  past_end.tensor("t", {64}, 0, std::string(128, '\0'));  // says 256 bytes, holds 128
  EXPECT_NE(refusal(past_end.finish()).find("ends past the end of the file"), std::string::npos);

  GgufWriter zero_dim;
  zero_dim.tensor("t", {0}, 0, "");
  EXPECT_NE(refusal(zero_dim.finish()).find("impossible dimension"), std::string::npos);

  GgufWriter align;
  align.kv_u32("general.alignment", 24);
  EXPECT_NE(refusal(align.finish()).find("power of two"), std::string::npos);

  GgufWriter twice;
  twice.kv_u32("k", 1);
  twice.kv_u32("k", 2);
  EXPECT_NE(refusal(twice.finish()).find("appears twice"), std::string::npos);
}

TEST(GgufLlama, GeometryFromMetadataAndTiedEmbeddings) {
  const auto h = parse_gguf(tiny_llama().finish(), "tiny.gguf");
  const auto c = gguf_llama_config(h, "tiny.gguf");
  EXPECT_EQ(c.hidden_size, 8);
  EXPECT_EQ(c.num_hidden_layers, 1);
  EXPECT_EQ(c.intermediate_size, 16);
  EXPECT_EQ(c.num_attention_heads, 2);
  EXPECT_EQ(c.num_key_value_heads, 1);
  EXPECT_EQ(c.head_dim, 4);
  EXPECT_EQ(c.vocab_size, 32);
  EXPECT_EQ(c.max_position_embeddings, 128);
  EXPECT_DOUBLE_EQ(c.rope_theta, 100000.0);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_NO_THROW(check_gguf_tensors(h, c, "tiny.gguf"));
  const auto untied = parse_gguf(tiny_llama(true).finish(), "tiny.gguf");
  EXPECT_FALSE(gguf_llama_config(untied, "tiny.gguf").tie_word_embeddings);
}

TEST(GgufLlama, TensorsThatDoNotFitTheGeometryAreRefused) {
  auto w = tiny_llama();
  w.kv_u32("llama.block_count", 2);  // a second key of the same name: refused by the parser
  EXPECT_THROW((void)parse_gguf(w.finish(), "x"), CheckpointError);

  GgufWriter lying = tiny_llama();
  lying.tensor("blk.1.attn_q.weight", {8, 8}, 0, std::string(256, '\0'));
  const auto h = parse_gguf(lying.finish(), "x.gguf");
  try {
    check_gguf_tensors(h, gguf_llama_config(h, "x.gguf"), "x.gguf");
    FAIL() << "a tensor of a second layer was accepted in a one-layer model";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("blk.1.attn_q.weight"), std::string::npos) << e.what();
  }
}

TEST(GgufLlama, AbsurdGeometryAndOtherArchitecturesAreRefused) {
  GgufWriter huge = tiny_llama();
  const auto bytes = huge.finish();
  auto h = parse_gguf(bytes, "x");
  h.metadata["llama.block_count"] = GgufValue(GgufValueType::u32, std::string_view("\xff\xff\xff\x7f", 4));
  EXPECT_THROW((void)gguf_llama_config(h, "x"), CheckpointError);
  const std::string qwen = "qwen2";
  h = parse_gguf(bytes, "x");
  h.metadata["general.architecture"] = GgufValue(GgufValueType::string, std::string_view(qwen));
  EXPECT_THROW((void)gguf_llama_config(h, "x"), CheckpointError);
  EXPECT_THROW(check_fits_in_memory(std::int64_t{1} << 40, 4, std::uint64_t{64} << 30, "x"), CheckpointError);
  EXPECT_NO_THROW(check_fits_in_memory(135'000'000, 4, std::uint64_t{8} << 30, "x"));
}

TEST(GgufLlama, TensorNamesMapToTransformersParameters) {
  EXPECT_EQ(hf_parameter_name("token_embd.weight"), "model.embed_tokens.weight");
  EXPECT_EQ(hf_parameter_name("output.weight"), "lm_head.weight");
  EXPECT_EQ(hf_parameter_name("blk.12.attn_k.weight"), "model.layers.12.self_attn.k_proj.weight");
  EXPECT_EQ(hf_parameter_name("blk.0.ffn_norm.weight"), "model.layers.0.post_attention_layernorm.weight");
  EXPECT_EQ(hf_parameter_name("blk.x.attn_k.weight"), std::nullopt);
  EXPECT_EQ(hf_parameter_name("blk.0.attn_qkv.weight"), std::nullopt);
  EXPECT_TRUE(gguf_rows_permuted("blk.3.attn_q.weight"));
  EXPECT_FALSE(gguf_rows_permuted("blk.3.attn_v.weight"));
}
