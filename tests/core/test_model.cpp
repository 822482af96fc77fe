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
  torch::manual_seed(3);
  const auto ids = torch::randint(0, c.vocab_size, {4, 32}, torch::kInt64);
  // Next-token pairs: with tied embeddings, labels equal to the inputs would be easier than chance.
  const auto loss = model->loss(model->forward(ids).narrow(1, 0, 31), ids.narrow(1, 1, 31)).item<double>();
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

TEST(LlamaModel, GradientCheckpointingGivesTheSameGradients) {
  const auto c = llama_preset("tiny");
  const auto ids = torch::randint(0, c.vocab_size, {2, 16}, torch::kInt64);
  const auto grads = [&](bool recompute) {
    LlamaForCausalLM model(c);
    model->reset_parameters(4);
    model->train();
    model->set_gradient_checkpointing(recompute);
    const auto loss = model->loss(model->forward(ids).narrow(1, 0, 15), ids.narrow(1, 1, 15));
    loss.backward();
    std::vector<torch::Tensor> out;
    for (const auto& p : model->parameters()) out.push_back(p.grad().clone());
    return std::make_pair(loss.item<double>(), out);
  };
  const auto [plain_loss, plain] = grads(false);
  const auto [ckpt_loss, ckpt] = grads(true);
  EXPECT_DOUBLE_EQ(plain_loss, ckpt_loss);
  ASSERT_EQ(plain.size(), ckpt.size());
  for (std::size_t i = 0; i < plain.size(); ++i)
    EXPECT_TRUE(torch::allclose(plain[i], ckpt[i], 1e-5, 1e-7)) << i;
}

TEST(LlamaModel, Llama3RopeScalingKeepsHighFrequenciesAndDividesLowOnes) {
  auto c = llama_preset("tiny");
  c.rope_theta = 500000.0;
  c.rope_scaling_factor = 8.0;
  c.rope_original_max_position_embeddings = 64;
  const RotaryEmbedding scaled(c);
  c.rope_scaling_factor = 0.0;
  const RotaryEmbedding plain(c);
  const auto a = scaled.inv_freq();
  const auto b = plain.inv_freq();
  // Wavelengths under 64 / high_freq_factor (= 16) are kept; over 64 / low_freq_factor are divided by 8.
  EXPECT_FLOAT_EQ(a[0].item<float>(), b[0].item<float>());
  EXPECT_FLOAT_EQ(a[-1].item<float>(), b[-1].item<float>() / 8.0f);
}
