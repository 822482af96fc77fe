// Optiscope against Hugging Face's own implementations, on files that transformers and tokenizers
// wrote (tests/parity/make_reference.py, run by run_parity.sh): same logits and loss from the
// checkpoints, same ids from tokenizer.json.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "checkpoint/checkpoint_io.h"
#include "tokenizer/bpe_tokenizer.h"

using namespace optiscope;
namespace fs = std::filesystem;

namespace {

fs::path reference_dir() {
  const char* dir = std::getenv("OPTISCOPE_PARITY_DIR");
  return dir != nullptr ? fs::path(dir) : fs::path();
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

torch::Tensor named(const checkpoint::NamedTensors& tensors, const std::string& name) {
  for (const auto& [n, t] : tensors) {
    if (n == name) return t;
  }
  throw std::runtime_error("reference has no " + name);
}

double relative_error(const torch::Tensor& ours, const torch::Tensor& theirs) {
  return ((ours - theirs).abs().max() / theirs.abs().max()).item<double>();
}

void expect_same_outputs(const std::string& name) {
  const auto folder = reference_dir() / name;
  const auto config = checkpoint::read_config(folder);
  LlamaForCausalLM model(config.llama);
  checkpoint::load_weights(folder, *model);
  model->eval();
  const auto ref = checkpoint::read_safetensors(folder / "reference.safetensors");
  const auto ids = named(ref, "input_ids").to(torch::kInt64);
  const auto expected = named(ref, "logits");
  torch::NoGradGuard no_grad;
  const auto logits = model->forward(ids);
  ASSERT_EQ(logits.sizes(), expected.sizes());
  const double logit_err = relative_error(logits, expected);
  // transformers shifts labels inside its loss; our loss takes the shifted pairs.
  const auto t = ids.size(1);
  const double loss = model->loss(logits.narrow(1, 0, t - 1), ids.narrow(1, 1, t - 1)).item<double>();
  const double ref_loss = nlohmann::json::parse(read_file(folder / "reference.json"))["loss"].get<double>();
  std::printf("%s: logits max relative error %.3g, loss %.7f vs transformers %.7f\n", name.c_str(), logit_err,
              loss, ref_loss);
  EXPECT_LT(logit_err, 1e-4);
  EXPECT_LT(std::abs(loss - ref_loss) / ref_loss, 1e-4);
}

}  // namespace

class Parity : public ::testing::Test {
 protected:
  void SetUp() override {
    if (reference_dir().empty())
      GTEST_SKIP() << "OPTISCOPE_PARITY_DIR is not set (run through run_parity.sh)";
  }
};

TEST_F(Parity, TiedCheckpointGivesTransformersLogitsAndLoss) {
  expect_same_outputs("tied");
}

TEST_F(Parity, ShardedUntiedCheckpointGivesTransformersLogitsAndLoss) {
  expect_same_outputs("untied");
}

TEST_F(Parity, TokenizerGivesTheIdsOfHuggingFaceTokenizers) {
  const auto tokenizer = tokenizer::BpeTokenizer::from_json(read_file(reference_dir() / "tokenizer.json"));
  const auto text = read_file(reference_dir() / "text.txt");
  const auto expected = nlohmann::json::parse(read_file(reference_dir() / "tokens.json"))["ids"]
                            .get<std::vector<std::int64_t>>();
  const auto ids = tokenizer.encode(text);
  EXPECT_EQ(ids, expected);
  EXPECT_EQ(tokenizer.decode(ids), text);
  std::printf("tokenizer: %zu ids, %s\n", ids.size(), ids == expected ? "identical" : "DIFFERENT");
}
