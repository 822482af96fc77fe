#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "checkpoint/checkpoint_io.h"
#include "checkpoint/safetensors_format.h"

using namespace optiscope;
using namespace optiscope::checkpoint;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("optiscope_ckpt_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

LlamaConfig small_config(bool tied) {
  auto c = llama_preset("tiny");
  c.tie_word_embeddings = tied;
  c.rope_scaling_factor = 8.0;
  c.rope_original_max_position_embeddings = 64;
  return c;
}

LlamaForCausalLM random_model(const LlamaConfig& c, std::uint64_t seed) {
  LlamaForCausalLM m(c);
  m->reset_parameters(seed);
  return m;
}

void expect_same_weights(LlamaForCausalLMImpl& a, LlamaForCausalLMImpl& b) {
  const auto pa = a.named_parameters();
  const auto pb = b.named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& p : pa) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
}

std::string load_error(const fs::path& dir, const LlamaConfig& c) {
  LlamaForCausalLM m(c);
  try {
    load_weights(dir, *m);
  } catch (const CheckpointError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(Checkpoint, RoundTripsASingleFile) {
  for (const bool tied : {true, false}) {
    const auto dir = fresh_dir(tied ? "tied" : "untied");
    auto saved = random_model(small_config(tied), 5);
    save_checkpoint(dir, *saved);
    EXPECT_TRUE(fs::exists(dir / "model.safetensors"));
    EXPECT_TRUE(is_checkpoint_folder(dir.string()));
    const auto cfg = read_config(dir);
    EXPECT_EQ(cfg.llama.tie_word_embeddings, tied);
    EXPECT_DOUBLE_EQ(cfg.llama.rope_scaling_factor, 8.0);
    LlamaForCausalLM loaded(cfg.llama);
    load_weights(dir, *loaded);
    expect_same_weights(*saved, *loaded);
    const auto ids = torch::randint(0, cfg.llama.vocab_size, {2, 9}, torch::kInt64);
    EXPECT_TRUE(torch::equal(saved->forward(ids), loaded->forward(ids)));
    fs::remove_all(dir);
  }
}

TEST(Checkpoint, LoadsShardsThroughTheIndex) {
  const auto dir = fresh_dir("sharded");
  auto saved = random_model(small_config(false), 6);
  save_checkpoint(dir, *saved, /*max_shard_bytes=*/200 * 1024);
  EXPECT_TRUE(fs::exists(dir / "model.safetensors.index.json"));
  EXPECT_FALSE(fs::exists(dir / "model.safetensors"));
  int shards = 0;
  for (const auto& e : fs::directory_iterator(dir)) shards += e.path().extension() == ".safetensors";
  EXPECT_GT(shards, 2);
  LlamaForCausalLM loaded(read_config(dir).llama);
  load_weights(dir, *loaded);
  expect_same_weights(*saved, *loaded);
  fs::remove_all(dir);
}

TEST(Checkpoint, ConvertsDtypeOnLoad) {
  const auto dir = fresh_dir("bf16");
  auto saved = random_model(small_config(true), 7);
  saved->to(torch::kBFloat16);
  save_checkpoint(dir, *saved);
  EXPECT_EQ(read_config(dir).torch_dtype, "bfloat16");
  LlamaForCausalLM loaded(read_config(dir).llama);
  load_weights(dir, *loaded);
  EXPECT_EQ(loaded->parameters().front().scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(loaded->model->norm->weight, saved->model->norm->weight.to(torch::kFloat32)));
  fs::remove_all(dir);
}

TEST(Checkpoint, MissingTruncatedAndMalformedFilesGetClearErrors) {
  const auto cfg = small_config(false);
  const auto dir = fresh_dir("bad");
  EXPECT_THROW(read_config(dir), CheckpointError);
  auto saved = random_model(cfg, 8);
  save_checkpoint(dir, *saved);
  const auto file = dir / "model.safetensors";
  const auto size = fs::file_size(file);

  fs::resize_file(file, size - 100);
  EXPECT_NE(load_error(dir, cfg).find("truncated"), std::string::npos) << load_error(dir, cfg);

  fs::resize_file(file, 6);
  EXPECT_NE(load_error(dir, cfg).find("truncated"), std::string::npos) << load_error(dir, cfg);

  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << std::string("\x05\x00\x00\x00\x00\x00\x00\x00{oops", 13);
  }
  EXPECT_NE(load_error(dir, cfg).find("not valid JSON"), std::string::npos) << load_error(dir, cfg);

  fs::remove(file);
  EXPECT_NE(load_error(dir, cfg).find("no model.safetensors"), std::string::npos);

  // A checkpoint of another geometry than its config.json says.
  save_checkpoint(dir, *saved);
  auto wider = cfg;
  wider.intermediate_size += 8;
  EXPECT_NE(load_error(dir, wider).find("shape"), std::string::npos) << load_error(dir, wider);

  // A weight missing from the file.
  auto tensors = read_safetensors(file);
  tensors.erase(std::remove_if(tensors.begin(), tensors.end(),
                               [](const auto& t) { return t.first == "model.norm.weight"; }),
                tensors.end());
  write_safetensors(file, tensors);
  EXPECT_NE(load_error(dir, cfg).find("model.norm.weight"), std::string::npos) << load_error(dir, cfg);

  // A tensor the model has no place for.
  tensors.emplace_back("model.norm.weight", torch::ones({cfg.hidden_size}));
  tensors.emplace_back("model.layers.0.self_attn.q_proj.bias", torch::zeros({4}));
  write_safetensors(file, tensors);
  EXPECT_NE(load_error(dir, cfg).find("q_proj.bias"), std::string::npos) << load_error(dir, cfg);
  fs::remove_all(dir);
}

TEST(Checkpoint, IndexNamingAMissingShardIsAnError) {
  const auto cfg = small_config(false);
  const auto dir = fresh_dir("badindex");
  auto saved = random_model(cfg, 9);
  save_checkpoint(dir, *saved, 200 * 1024);
  std::string second;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().starts_with("model-00002-of-")) second = e.path().filename().string();
  }
  ASSERT_FALSE(second.empty());
  fs::remove(dir / second);
  EXPECT_NE(load_error(dir, cfg).find(second), std::string::npos) << load_error(dir, cfg);
  fs::remove_all(dir);
}
