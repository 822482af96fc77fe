// Optimizer in backward and chunked cross-entropy: each computes what the plain path computes (bit
// for bit for the optimizer on fp32 CPU runs, to float32 tolerance for the loss) while holding less
// memory at once. Also activation checkpointing's effect, and the fit ladder end to end on the CPU.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>
#include <cmath>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "engine/comparison_runner.h"
#include "engine/optimizer_in_backward.h"
#include "engine/trainer.h"
#include "model/chunked_cross_entropy.h"
#include "model/llama.h"
#include "optim/optimizer.h"
#include "spec/run_spec.h"
#include "store/ladder_summary.h"
#include "store/store.h"

using namespace optiscope;

namespace {

// Tiny geometry with untied output weights and tensors above the 8-bit threshold (4096).
LlamaConfig test_config(bool tied) {
  auto c = llama_preset("tiny");
  c.tie_word_embeddings = tied;
  c.num_hidden_layers = 2;
  return c;
}

struct Batch {
  torch::Tensor ids;
  torch::Tensor labels;
};

Batch batch_for(const LlamaConfig& c, int seed) {
  torch::manual_seed(static_cast<std::uint64_t>(seed));
  auto ids = torch::randint(0, c.vocab_size, {2, 24}, torch::kInt64);
  auto labels = torch::randint(0, c.vocab_size, {2, 24}, torch::kInt64);
  labels.index_put_({0, torch::indexing::Slice(0, 5)}, -100);  // a masked prompt, as SFT data has
  return {ids, labels};
}

// Trains `steps` steps and returns the parameters: the optimizer either steps after backward or
// inside it.
std::vector<torch::Tensor> train_params(const std::string& optim, bool in_backward, bool checkpointing,
                                        bool tied, int steps) {
  const auto c = test_config(tied);
  LlamaForCausalLM model(c);
  model->reset_parameters(7);
  model->set_gradient_checkpointing(checkpointing);
  model->train();
  optim::OptimizerOptions o;
  o.lr = 1e-2;
  o.weight_decay = 0.1;
  auto opt = optim::make_optimizer(optim, model->parameters(), o);
  std::optional<engine::OptimizerInBackward> hooks;
  if (in_backward) hooks.emplace(*opt);
  for (int s = 0; s < steps; ++s) {
    const auto b = batch_for(c, 100 + s);
    opt->set_lr(1e-2 / (1 + s));
    model->loss(model->forward(b.ids), b.labels).backward();
    if (in_backward) {
      for (const auto& p : model->parameters())
        EXPECT_FALSE(p.grad().defined()) << "optimizer_in_bwd must release every gradient in backward";
    } else {
      opt->step();
      opt->zero_grad();
    }
  }
  std::vector<torch::Tensor> out;
  for (const auto& p : model->parameters()) out.push_back(p.detach().clone());
  return out;
}

}  // namespace

TEST(OptimizerInBackward, SameParametersAsStepAfterBackwardBitForBit) {
  for (const std::string optim : {"adamw_torch", "adamw_torch_fused", "adamw_32bit", "adamw_8bit",
                                  "paged_adamw_8bit", "offload_adamw_32bit"}) {
    for (const bool tied : {false, true}) {
      const auto after = train_params(optim, false, false, tied, 3);
      const auto inside = train_params(optim, true, false, tied, 3);
      ASSERT_EQ(after.size(), inside.size());
      for (std::size_t i = 0; i < after.size(); ++i)
        EXPECT_TRUE(torch::equal(after[i], inside[i]))
            << optim << (tied ? " tied" : "") << ": parameter " << i;
    }
  }
}

TEST(OptimizerInBackward, WorksInsideTheCheckpointedLayersBackward) {
  // The reentrant checkpoint runs a backward of its own, where the layer's hooks fire.
  const auto after = train_params("adamw_8bit", false, true, false, 3);
  const auto inside = train_params("adamw_8bit", true, true, false, 3);
  for (std::size_t i = 0; i < after.size(); ++i) EXPECT_TRUE(torch::equal(after[i], inside[i])) << i;
}

TEST(OptimizerInBackward, HooksGoWithTheObject) {
  const auto c = test_config(false);
  LlamaForCausalLM model(c);
  model->reset_parameters(1);
  auto opt = optim::make_optimizer("adamw_torch", model->parameters(), {});
  { engine::OptimizerInBackward hooks(*opt); }
  const auto b = batch_for(c, 1);
  const auto before = model->parameters().front().detach().clone();
  model->loss(model->forward(b.ids), b.labels).backward();
  EXPECT_TRUE(model->parameters().front().grad().defined());
  EXPECT_TRUE(torch::equal(before, model->parameters().front()));
}

TEST(OptimizerInBackward, SpecRefusesClippingAndAccumulation) {
  RunSpec s;
  s.optimizer_in_bwd = true;
  s.max_grad_norm = 1.0;
  auto problems = validate(s);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("max_grad_norm"), std::string::npos);
  s.max_grad_norm = 0.0;
  s.gradient_accumulation_steps = 2;
  problems = validate(s);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("gradient_accumulation_steps"), std::string::npos);
  s.gradient_accumulation_steps = 1;
  EXPECT_TRUE(validate(s).empty());
  const RunSpec back = run_spec_from_json(to_json(s));
  EXPECT_TRUE(back.optimizer_in_bwd);
}

TEST(ChunkedCrossEntropy, SameLossAndGradientsAsThePlainLoss) {
  torch::manual_seed(3);
  const std::int64_t vocab = 300;
  const auto hidden0 = torch::randn({3, 19, 32});
  const auto weight0 = torch::randn({vocab, 32}) * 0.2;
  auto labels = torch::randint(0, vocab, {3, 19}, torch::kInt64);
  labels.index_put_({1, torch::indexing::Slice(0, 7)}, -100);
  const auto plain_h = hidden0.clone().requires_grad_(true);
  const auto plain_w = weight0.clone().requires_grad_(true);
  const auto plain = torch::nn::functional::cross_entropy(
      torch::nn::functional::linear(plain_h, plain_w).reshape({-1, vocab}), labels.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
  plain.backward();
  // 1 chunk, chunks that do not divide the 57 tokens, and more chunks than tokens.
  for (const std::int64_t chunks : {1, 4, 8, 100}) {
    const auto h = hidden0.clone().requires_grad_(true);
    const auto w = weight0.clone().requires_grad_(true);
    const auto loss = chunked_cross_entropy(h, w, labels, chunks);
    (loss * 2.5).backward();  // a scaled upstream gradient reaches both inputs
    // float32 sums in another order (per slice, then over slices; LibTorch's reduction splits by
    // thread): agreement to a relative 1e-5. A fresh CI clone saw 2.4e-6 relative with 1 chunk.
    EXPECT_NEAR(loss.item<double>(), plain.item<double>(), 1e-5 * std::abs(plain.item<double>())) << chunks;
    EXPECT_TRUE(torch::allclose(h.grad(), plain_h.grad() * 2.5, 1e-4, 1e-6)) << chunks;
    EXPECT_TRUE(torch::allclose(w.grad(), plain_w.grad() * 2.5, 1e-4, 1e-6)) << chunks;
  }
}

// Without grad mode (evaluation) the loss is the same and computes no gradients; the gradients it
// keeps from forward are scaled in place, so a second backward through one loss is refused.
TEST(ChunkedCrossEntropy, EvaluationComputesTheLossAloneAndBackwardRunsOnce) {
  torch::manual_seed(4);
  const auto h = torch::randn({2, 11, 16}).requires_grad_(true);
  const auto w = (torch::randn({50, 16}) * 0.3).requires_grad_(true);
  const auto labels = torch::randint(0, 50, {2, 11}, torch::kInt64);
  const auto trained = chunked_cross_entropy(h, w, labels, 3);
  {
    torch::NoGradGuard no_grad;
    const auto evaluated = chunked_cross_entropy(h, w, labels, 3);
    EXPECT_FALSE(evaluated.requires_grad());
    EXPECT_NEAR(evaluated.item<double>(), trained.item<double>(), 1e-6);
  }
  trained.backward({}, /*retain_graph=*/true);
  EXPECT_THROW(trained.backward(), c10::Error);
}

TEST(ChunkedCrossEntropy, ModelLossMatchesWithTiedAndUntiedOutputs) {
  for (const bool tied : {true, false}) {
    const auto c = test_config(tied);
    LlamaForCausalLM a(c);
    LlamaForCausalLM b(c);
    a->reset_parameters(5);
    b->reset_parameters(5);
    const auto batch = batch_for(c, 9);
    const auto plain = a->loss(a->forward(batch.ids), batch.labels);
    const auto chunked = b->chunked_loss(b->hidden_states(batch.ids), batch.labels, 8);
    EXPECT_NEAR(plain.item<double>(), chunked.item<double>(), 1e-5);
    plain.backward();
    chunked.backward();
    const auto pa = a->parameters();
    const auto pb = b->parameters();
    for (std::size_t i = 0; i < pa.size(); ++i)
      EXPECT_TRUE(torch::allclose(pa[i].grad(), pb[i].grad(), 1e-4, 1e-6)) << (tied ? "tied " : "") << i;
  }
}

TEST(ChunkedCrossEntropy, SpecKeyRoundTripsAndRefusesNegatives) {
  RunSpec s;
  s.loss_chunks = 8;
  EXPECT_EQ(run_spec_from_json(to_json(s)).loss_chunks, 8);
  s.loss_chunks = -1;
  EXPECT_FALSE(validate(s).empty());
}

namespace {

struct MemoryOfRun {
  std::int64_t peak = 0;                 // largest device total over every sample
  std::int64_t gradients = 0;            // most gradient bytes seen at a sample
  std::int64_t forward_activations = 0;  // activations at the end of the first forward
  std::int64_t forward_peak = 0;         // the first forward's peak, loss included
};

MemoryOfRun memory_of(const RunSpec& spec) {
  struct Recorder final : engine::RunRecorder {
    MemoryOfRun m;
    void on_bundle(const StepBundle& b) override {
      for (const auto& s : b.memory) {
        m.peak = std::max(m.peak, s.device_total());
        m.gradients = std::max(m.gradients, s.gradients);
        if (s.step == 1 && s.phase == Phase::forward && s.point == SamplePoint::end)
          m.forward_activations = s.activations;
        if (s.step == 1 && s.phase == Phase::forward && s.point == SamplePoint::peak)
          m.forward_peak = s.device_total();
      }
    }
  } recorder;
  const auto result = engine::train(spec, &recorder, nullptr);
  EXPECT_EQ(result.outcome, Outcome::completed) << result.detail;
  return recorder.m;
}

RunSpec cpu_spec() {
  RunSpec s;
  s.max_steps = 2;
  s.max_grad_norm = 0.0;
  s.per_device_train_batch_size = 4;
  return s;
}

}  // namespace

TEST(MemoryTricks, OptimizerInBackwardLowersThePeakByAboutTheGradients) {
  RunSpec s = cpu_spec();
  // With checkpointing the peak is in backward and the update, where the gradients are (without
  // it, the tiny model's peak is its forward activations, which this trick does not touch).
  s.gradient_checkpointing = true;
  const auto plain = memory_of(s);
  s.optimizer_in_bwd = true;
  const auto in_bwd = memory_of(s);
  ASSERT_GT(plain.gradients, 0);
  EXPECT_EQ(in_bwd.gradients, 0) << "no gradient may outlive its parameter's update";
  const double saved = static_cast<double>(plain.peak - in_bwd.peak);
  std::printf("[ info ] peak %lld -> %lld bytes: %.0f saved, gradients %lld\n",
              static_cast<long long>(plain.peak), static_cast<long long>(in_bwd.peak), saved,
              static_cast<long long>(plain.gradients));
  // Not all of them: the tied embedding's gradient lives until the end of backward either way.
  EXPECT_GT(saved, 0.5 * static_cast<double>(plain.gradients));
  EXPECT_LT(saved, 1.1 * static_cast<double>(plain.gradients));
}

TEST(MemoryTricks, GradientCheckpointingFreesTheLayersActivations) {
  RunSpec s = cpu_spec();
  const auto plain = memory_of(s);
  s.gradient_checkpointing = true;
  const auto recomputed = memory_of(s);
  std::printf("[ info ] activations after forward %lld -> %lld bytes\n",
              static_cast<long long>(plain.forward_activations),
              static_cast<long long>(recomputed.forward_activations));
  // Only each layer's input (and the loss's logits) stays: far less than every layer's internals.
  EXPECT_LT(recomputed.forward_activations, plain.forward_activations / 2);
}

TEST(MemoryTricks, ChunkedLossHoldsLessAtItsPeakAndTrainsTheSame) {
  RunSpec s = cpu_spec();
  s.max_steps = 3;
  std::vector<StepRecord> plain_steps, chunked_steps;
  engine::train(
      s, [&](const StepRecord& r) { plain_steps.push_back(r); }, nullptr);
  const auto plain = memory_of(s);
  s.loss_chunks = 8;
  engine::train(
      s, [&](const StepRecord& r) { chunked_steps.push_back(r); }, nullptr);
  const auto chunked = memory_of(s);
  ASSERT_EQ(plain_steps.size(), chunked_steps.size());
  for (std::size_t i = 0; i < plain_steps.size(); ++i)
    EXPECT_NEAR(plain_steps[i].loss, chunked_steps[i].loss, 1e-4) << i;
  std::printf("[ info ] forward peak %lld -> %lld bytes\n", static_cast<long long>(plain.forward_peak),
              static_cast<long long>(chunked.forward_peak));
  // The whole batch's logits, [tokens, vocab] in float32, and the loss's copy of them are gone; in
  // their place the fused loss keeps, from forward, the gradients it computed there: the hidden
  // states' [tokens, hidden] and the output weight's [vocab, hidden] (in a real model a small part
  // of the logits: 128256 x 2048 against 2048 x 128256 x 2 for Llama-3.2-1B at batch 4 x 512), and
  // while a slice is in flight, its logits, their gradient and the masks beside them (three slices
  // of float32 logits at most, 1/8 of the tokens each).
  const auto c = llama_preset(s.model);
  const auto tokens = static_cast<std::int64_t>(s.per_device_train_batch_size) * s.max_seq_length;
  const auto logits_bytes = tokens * c.vocab_size * 4;
  const auto kept_bytes = (tokens + c.vocab_size) * c.hidden_size * 4 + 3 * logits_bytes / s.loss_chunks;
  EXPECT_LT(chunked.forward_peak, plain.forward_peak - 2 * logits_bytes + kept_bytes);
}

// ---------------------------------------------------------------------------------------------
// The fit ladder, end to end on the CPU: tiny model, so the budget is a few MiB.

namespace {

RunSpec tiny_ladder_base() {
  RunSpec base;
  base.max_steps = 2;
  base.per_device_train_batch_size = 2;
  base.max_seq_length = 64;
  base.precision = "fp32";
  return base;
}

std::string temp_store(const char* name) {
  const auto path = std::filesystem::temp_directory_path() /
                    (std::string("optiscope_") + name + "_" + std::to_string(::getpid()) + ".db");
  std::filesystem::remove(path);
  return path.string();
}

}  // namespace

TEST(FitLadder, StandardRungsAddOneTrickEach) {
  const auto ladder = standard_fit_ladder(tiny_ladder_base(), 1 << 20);
  ASSERT_EQ(ladder.rungs.size(), 6u);
  EXPECT_EQ(ladder.rungs[0].spec.optim, "adamw_torch");
  EXPECT_EQ(ladder.rungs[1].spec.optim, "adamw_8bit");
  EXPECT_EQ(ladder.rungs[2].spec.optim, "paged_adamw_8bit");
  EXPECT_TRUE(ladder.rungs[3].spec.gradient_checkpointing);
  EXPECT_FALSE(ladder.rungs[3].spec.optimizer_in_bwd);
  EXPECT_TRUE(ladder.rungs[4].spec.optimizer_in_bwd);
  EXPECT_EQ(ladder.rungs[4].spec.loss_chunks, 0);
  EXPECT_EQ(ladder.rungs[5].spec.loss_chunks, kLadderLossChunks);
  for (const auto& r : ladder.rungs) {
    EXPECT_TRUE(validate(r.spec).empty()) << r.name;
    EXPECT_EQ(r.spec.device_budget_bytes, 1u << 20);
    EXPECT_EQ(r.spec.max_grad_norm, 0.0) << "rungs compare only without clipping";
  }
  const auto back = ladder_from_json(to_json(ladder));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->rungs.size(), 6u);
  EXPECT_EQ(back->rungs[4].name, "+ optimizer in backward");
  EXPECT_EQ(back->budget_bytes, 1u << 20);
  EXPECT_FALSE(ladder_from_json(to_json(default_comparison())));
  EXPECT_FALSE(ladder_from_json("not json"));
}

TEST(FitLadder, VerdictNeedsTheMeasuredDemandWithinTheBudget) {
  EXPECT_EQ(rung_verdict(Outcome::completed, 100, 100), RungVerdict::fits);
  EXPECT_EQ(rung_verdict(Outcome::completed, 101, 100), RungVerdict::over_budget);
  EXPECT_EQ(rung_verdict(Outcome::completed, 101, 0), RungVerdict::fits) << "no budget: nothing to exceed";
  EXPECT_EQ(rung_verdict(Outcome::oom, 50, 100), RungVerdict::oom);
  MemorySample a, b;
  a.parameters = 10;
  b.parameters = 10;
  b.activations = 5;
  b.context = 1;
  b.other_device = 100;  // what nothing explains is no part of the demand
  b.driver_cache = 100;  // nor is the reclaimable driver cache
  EXPECT_EQ(demand_bytes(*peak_demand({a, b})), 16);
  EXPECT_EQ(rung_verdict(Outcome::over_budget, 50, 100), RungVerdict::over_budget)
      << "the trainer's verdict, from the measured residency, stands";
  EXPECT_FALSE(peak_demand({}));
}

TEST(FitLadder, EachTrickLowersThePeakAndABudgetBetweenFirstAndLastSeparatesThem) {
  // Unbudgeted first: every rung completes, and the peaks say what each trick saved.
  const std::string free_path = temp_store("ladder_free");
  const auto free_ladder = standard_fit_ladder(tiny_ladder_base(), 0);
  const auto free_result = run_ladder(free_ladder, free_path);
  ASSERT_EQ(free_result.outcomes.size(), 6u);
  std::vector<std::int64_t> peaks;
  {
    const Store store = Store::open(free_path, Store::Mode::read_only);
    const auto ladders = summarize_ladders(store);
    ASSERT_EQ(ladders.size(), 1u);
    for (const auto& r : ladders[0].rungs) {
      EXPECT_EQ(r.verdict, RungVerdict::fits) << r.rung;
      peaks.push_back(r.peak_demand);
      std::printf("[ info ] %-28s peak demand %lld bytes\n", r.rung.c_str(),
                  static_cast<long long>(r.peak_demand));
    }
    EXPECT_EQ(ladders[0].rungs[4].run.peak.gradients, 0) << "optimizer in backward keeps no gradients";
  }
  EXPECT_LT(peaks[1], peaks[0]) << "8-bit state";
  EXPECT_LT(peaks[4], peaks[3]) << "optimizer in backward";
  EXPECT_LT(peaks[5], peaks[0]);
  // Then with a budget between the first and the last rung's peak: the first cannot fit, the last must.
  const std::string path = temp_store("ladder_budget");
  const auto budget = static_cast<std::uint64_t>((peaks[0] + peaks[5]) / 2);
  run_ladder(standard_fit_ladder(tiny_ladder_base(), budget), path);
  const Store store = Store::open(path, Store::Mode::read_only);
  const auto ladders = summarize_ladders(store, 1);
  ASSERT_EQ(ladders.size(), 1u);
  const auto& rungs = ladders[0].rungs;
  ASSERT_EQ(rungs.size(), 6u);
  EXPECT_NE(rungs.front().verdict, RungVerdict::fits) << "the first rung needs more than the budget";
  EXPECT_EQ(rungs.back().verdict, RungVerdict::fits);
  ASSERT_TRUE(rungs.back().loss_after);
  EXPECT_EQ(rungs.back().loss_step, 1);
  const auto json = nlohmann::json::parse(ladders_to_json(ladders));
  EXPECT_EQ(json[0]["rungs"].size(), 6u);
  EXPECT_EQ(json[0]["rungs"][5]["outcome"], "fits");
  EXPECT_EQ(json[0]["rungs"][5]["spec"]["loss_chunks"], kLadderLossChunks);
  EXPECT_GT(json[0]["rungs"][5]["peak_demand_by_category"]["parameters"].get<std::int64_t>(), 0);
  std::filesystem::remove(free_path);
  std::filesystem::remove(path);
}
