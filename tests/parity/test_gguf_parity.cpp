// Optiscope's GGUF reader against Hugging Face Transformers reading the same file
// (tests/parity/gguf_reference.py, run by run_gguf_parity.sh): the logits of a few real prompts
// agree to fp32 (and, with bf16 weights, to bf16) tolerance, and the tokenizer built from
// tokenizer.ggml.* gives transformers' ids on the corpus' first lines.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "checkpoint/checkpoint_io.h"
#include "checkpoint/gguf_weights.h"
#include "datasets/run_datasets.h"

using namespace optiscope;
namespace fs = std::filesystem;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

nlohmann::json reference() {
  std::ifstream in(fs::path(env("OPTISCOPE_PARITY_DIR")) / "gguf_reference.json", std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return nlohmann::json::parse(s.str());
}

torch::Tensor logits_of(const checkpoint::NamedTensors& tensors, std::size_t i) {
  for (const auto& [n, t] : tensors)
    if (n == "logits_" + std::to_string(i)) return t;
  throw std::runtime_error("no logits_" + std::to_string(i) + " in the reference");
}

class GgufParity : public ::testing::Test {
 protected:
  void SetUp() override {
    if (env("OPTISCOPE_PARITY_DIR").empty() || env("OPTISCOPE_GGUF").empty())
      GTEST_SKIP() << "run through run_gguf_parity.sh (OPTISCOPE_PARITY_DIR and OPTISCOPE_GGUF unset)";
  }
};

TEST_F(GgufParity, LogitsOfRealPromptsMatchTransformers) {
  const auto info = checkpoint::inspect_gguf(env("OPTISCOPE_GGUF"));
  LlamaForCausalLM model(info.config);
  checkpoint::load_gguf_weights(env("OPTISCOPE_GGUF"), *model);
  model->eval();
  LlamaForCausalLM bf16_model(info.config);
  bf16_model->to(torch::kBFloat16);
  checkpoint::load_gguf_weights(env("OPTISCOPE_GGUF"), *bf16_model);
  bf16_model->eval();
  const auto tokenizer = datasets::make_gguf_tokenizer(info.vocab, info.bos_token_id, info.eos_token_id);
  const auto ref = reference();
  const auto logits =
      checkpoint::read_safetensors(fs::path(env("OPTISCOPE_PARITY_DIR")) / "gguf_logits.safetensors");
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < ref["prompts"].size(); ++i) {
    const auto& p = ref["prompts"][i];
    const auto ids = p["ids"].get<std::vector<std::int64_t>>();
    EXPECT_EQ(tokenizer->encode(p["text"].get<std::string>()), ids) << "prompt " << i;
    const auto input = torch::tensor(ids, torch::kInt64).unsqueeze(0);
    const auto expected = logits_of(logits, i);
    const auto ours = model->forward(input)[0];
    ASSERT_EQ(ours.sizes(), expected.sizes());
    const double scale = expected.abs().max().item<double>();
    const double fp32_err = (ours - expected).abs().max().item<double>() / scale;
    const auto bf16 = bf16_model->forward(input)[0].to(torch::kFloat32);
    const double bf16_err = (bf16 - expected).abs().max().item<double>() / scale;
    const double argmax_agree =
        (ours.argmax(-1) == expected.argmax(-1)).to(torch::kFloat64).mean().item<double>();
    std::printf(
        "prompt %zu: %lld tokens, max |logit| %.2f, fp32 max rel. error %.2e, bf16 %.2e, argmax agreement "
        "%.3f\n",
        i, static_cast<long long>(ids.size()), scale, fp32_err, bf16_err, argmax_agree);
    EXPECT_LT(fp32_err, 1e-4) << "prompt " << i;
    // bf16 keeps 8 bits of mantissa: a 30-layer forward drifts by a few percent of the largest logit.
    EXPECT_LT(bf16_err, 0.08) << "prompt " << i;
    EXPECT_EQ(argmax_agree, 1.0) << "prompt " << i;
  }
}

TEST_F(GgufParity, TokenIdsOfTheCorpusMatchTransformers) {
  const auto info = checkpoint::inspect_gguf(env("OPTISCOPE_GGUF"));
  const auto tokenizer = datasets::make_gguf_tokenizer(info.vocab, info.bos_token_id, info.eos_token_id);
  const auto ref = reference();
  const auto& lines = ref["lines"];
  std::size_t same = 0;
  std::size_t tokens = 0;
  std::size_t same_as_unchanged = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto ours = tokenizer->encode(lines[i].get<std::string>());
    const auto theirs = ref["ids"][i].get<std::vector<std::int64_t>>();
    tokens += theirs.size();
    if (ours == theirs) {
      ++same;
    } else {
      ADD_FAILURE() << "line " << i + 1 << " '" << lines[i].get<std::string>() << "' tokenizes differently";
    }
    if (ours == ref["ids_transformers_gguf"][i].get<std::vector<std::int64_t>>()) ++same_as_unchanged;
  }
  std::printf(
      "corpus: %zu of %zu lines (%zu tokens) identical to transformers with SmolLM2's pre-tokenizer; "
      "%zu identical to transformers' unchanged GGUF tokenizer (transformers %s)\n",
      same, lines.size(), tokens, same_as_unchanged, ref["transformers"].get<std::string>().c_str());
  EXPECT_EQ(same, lines.size());
  EXPECT_GE(lines.size(), 1000u);
}

}  // namespace
