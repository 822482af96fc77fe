#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/llama.h"

using namespace optiscope;

TEST(LlamaModel, LogitsHaveBatchSeqVocabShape) {
  const auto c = llama_preset("tiny");
  LlamaForCausalLM model(c);
  model->reset_parameters(1);
  const auto ids = torch::randint(0, c.vocab_size, {3, 17}, torch::kInt64);
  const auto logits = model->forward(ids);
  EXPECT_EQ(logits.sizes(), (std::vector<std::int64_t>{3, 17, c.vocab_size}));
  EXPECT_TRUE(torch::isfinite(logits).all().item<bool>());
}

TEST(LlamaModel, ParameterCountMatchesTheConfig) {
  for (const char* name : {"tiny", "small"}) {
    const auto c = llama_preset(name);
    LlamaForCausalLM model(c);
    std::int64_t n = 0;
    for (const auto& p : model->parameters()) n += p.numel();
    EXPECT_EQ(n, c.parameter_count()) << name;
  }
}

TEST(LlamaModel, RealGeometriesHaveTheirPublishedSizes) {
  EXPECT_NEAR(static_cast<double>(llama_preset("llama-3.2-1b").parameter_count()), 1.236e9, 0.01e9);
  EXPECT_NEAR(static_cast<double>(llama_preset("llama-3.2-3b").parameter_count()), 3.213e9, 0.01e9);
  EXPECT_NEAR(static_cast<double>(llama_preset("llama-3.1-8b").parameter_count()), 8.030e9, 0.01e9);
  EXPECT_THROW(llama_preset("gpt-9"), std::invalid_argument);
}

TEST(LlamaModel, IsCausal) {
  // Changing a later token must not change the logits of earlier positions.
  const auto c = llama_preset("tiny");
  LlamaForCausalLM model(c);
  model->reset_parameters(2);
  auto ids = torch::randint(0, c.vocab_size, {1, 12}, torch::kInt64);
  const auto a = model->forward(ids);
  ids[0][11] = (ids[0][11].item<std::int64_t>() + 1) % c.vocab_size;
  const auto b = model->forward(ids);
  EXPECT_TRUE(torch::allclose(a.narrow(1, 0, 11), b.narrow(1, 0, 11), 1e-5, 1e-6));
  EXPECT_FALSE(torch::allclose(a.narrow(1, 11, 1), b.narrow(1, 11, 1)));
}

TEST(LlamaModel, UntrainedLossIsNearLogVocab) {
  const auto c = llama_preset("tiny");
  LlamaForCausalLM model(c);
  model->reset_parameters(3);
  const auto ids = torch::randint(0, c.vocab_size, {4, 32}, torch::kInt64);
  const auto loss = model->loss(model->forward(ids), ids).item<double>();
  EXPECT_NEAR(loss, std::log(static_cast<double>(c.vocab_size)), 0.3);
}

TEST(LlamaModel, TiedEmbeddingsShareTheirWeight) {
  auto c = llama_preset("tiny");
  c.tie_word_embeddings = true;
  LlamaForCausalLM tied(c);
  EXPECT_FALSE(tied->lm_head);
  c.tie_word_embeddings = false;
  LlamaForCausalLM untied(c);
  EXPECT_TRUE(untied->lm_head);
}
