#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "checkpoint/checkpoint_io.h"
#include "engine/trainer.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/llama3_pretokenizer.h"

using namespace optiscope;

namespace {

std::vector<StepRecord> run(const std::string& optim, int steps) {
  RunSpec s;
  s.optim = optim;
  s.max_steps = steps;
  std::vector<StepRecord> out;
  const auto r = engine::train(
      s, [&](const StepRecord& rec) { out.push_back(rec); }, nullptr);
  EXPECT_EQ(r.outcome, Outcome::completed) << r.detail;
  return out;
}

double mean_loss(const std::vector<StepRecord>& steps, std::size_t from, std::size_t count) {
  double sum = 0;
  for (std::size_t i = from; i < from + count; ++i) sum += steps[i].loss;
  return sum / static_cast<double>(count);
}

}  // namespace

TEST(Training, LossFallsOnTheTinyPresetForBothVariants) {
  for (const char* optim : {"adamw_torch", "adamw_8bit"}) {
    const auto steps = run(optim, 60);
    ASSERT_EQ(steps.size(), 60u);
    const double first = mean_loss(steps, 0, 5);
    const double last = mean_loss(steps, 55, 5);
    EXPECT_LT(last, 0.6 * first) << optim << ": first " << first << ", last " << last;
    EXPECT_GT(steps.back().tokens, 0);
    EXPECT_GT(steps.back().mem_bytes, 0);
  }
}

TEST(Training, VariantsStartFromTheSameWeightsAndData) {
  const auto a = run("adamw_torch", 2);
  const auto b = run("adamw_8bit", 2);
  // The first step's loss is computed before any update: identical weights and batch.
  EXPECT_DOUBLE_EQ(a[0].loss, b[0].loss);
  EXPECT_DOUBLE_EQ(a[0].lr, 0.0) << "transformers' warm-up starts at lr 0";
}

TEST(Training, CancelStopsBeforeTheNextStep) {
  RunSpec s;
  s.max_steps = 50;
  std::atomic<bool> cancel{false};
  int seen = 0;
  const auto r = engine::train(
      s,
      [&](const StepRecord&) {
        if (++seen == 3) cancel = true;
      },
      &cancel);
  EXPECT_EQ(r.outcome, Outcome::cancelled);
  EXPECT_EQ(seen, 3);
}

TEST(Training, BudgetTooSmallIsAnOomOutcomeNotACrash) {
  RunSpec s;
  s.max_steps = 3;
  s.device_budget_bytes = 2 * 1024 * 1024;  // less than the activations of one step
  const auto r = engine::train(s, nullptr, nullptr);
  EXPECT_EQ(r.outcome, Outcome::oom) << r.detail;
  ASSERT_TRUE(r.oom_step.has_value());
  EXPECT_GE(*r.oom_step, 0);
  EXPECT_NE(r.detail.find("budget"), std::string::npos) << r.detail;
}

TEST(Training, UnknownDatasetFailsWithAMessage) {
  RunSpec s;
  s.dataset = "no-such-dataset";
  const auto r = engine::train(s, nullptr, nullptr);
  EXPECT_EQ(r.outcome, Outcome::failed);
  EXPECT_NE(r.detail.find("no-such-dataset"), std::string::npos);
}

TEST(Training, EvaluationLossEveryEvalSteps) {
  RunSpec s;
  s.max_steps = 6;
  s.logging_steps = 4;
  s.eval_steps = 3;
  s.eval_split = 0.02;
  s.max_eval_samples = 32;
  std::vector<StepRecord> out;
  const auto r = engine::train(
      s, [&](const StepRecord& rec) { out.push_back(rec); }, nullptr);
  ASSERT_EQ(r.outcome, Outcome::completed) << r.detail;
  // Logged at 3 (eval), 4 (logging) and 6 (eval, last).
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].step, 3);
  ASSERT_TRUE(out[0].eval_loss.has_value());
  EXPECT_FALSE(out[1].eval_loss.has_value());
  ASSERT_TRUE(out[2].eval_loss.has_value());
  EXPECT_LT(*out[2].eval_loss, *out[0].eval_loss);
  EXPECT_GT(*out[0].eval_loss, 0.0);
}

TEST(Training, GradientCheckpointingTrainsTheSame) {
  RunSpec s;
  s.max_steps = 3;
  std::vector<double> plain, ckpt;
  engine::train(
      s, [&](const StepRecord& rec) { plain.push_back(rec.loss); }, nullptr);
  s.gradient_checkpointing = true;
  const auto r = engine::train(
      s, [&](const StepRecord& rec) { ckpt.push_back(rec.loss); }, nullptr);
  ASSERT_EQ(r.outcome, Outcome::completed) << r.detail;
  ASSERT_EQ(plain.size(), ckpt.size());
  for (std::size_t i = 0; i < plain.size(); ++i) EXPECT_NEAR(plain[i], ckpt[i], 1e-4 * plain[i]);
}

TEST(Training, UnknownModelNamesPresetsAndFolders) {
  RunSpec s;
  s.model = "/no/such/checkpoint";
  const auto r = engine::train(s, nullptr, nullptr);
  EXPECT_EQ(r.outcome, Outcome::failed);
  EXPECT_NE(r.detail.find("neither a preset"), std::string::npos) << r.detail;
}

namespace {

// A checkpoint folder as a user would point at: config.json, weights, and a byte-level BPE
// tokenizer.json with Llama 3's pre-tokenizer and its two special tokens.
std::filesystem::path make_checkpoint_with_tokenizer(const std::filesystem::path& dir) {
  auto config = llama_preset("tiny");
  config.vocab_size = 300;
  LlamaForCausalLM model(config);
  model->reset_parameters(11);
  checkpoint::save_checkpoint(dir, *model);
  const tokenizer::ByteLevelAlphabet alphabet;
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[alphabet.encode(static_cast<unsigned char>(b))] = b;
  vocab["in"] = 256;
  nlohmann::json j;
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers",
                         {{{"type", "Split"},
                           {"pattern", {{"Regex", tokenizer::kLlama3SplitPattern}}},
                           {"behavior", "Isolated"}},
                          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
  j["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"i n"}}, {"ignore_merges", true}};
  j["added_tokens"] = {{{"id", 290}, {"content", "<|begin_of_text|>"}, {"special", true}},
                       {{"id", 291}, {"content", "<|end_of_text|>"}, {"special", true}}};
  std::ofstream(dir / "tokenizer.json") << j.dump();
  return dir;
}

}  // namespace

TEST(Training, FineTunesACheckpointFolderOnJsonlWithItsTokenizer) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("optiscope_run_ckpt_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  make_checkpoint_with_tokenizer(dir);
  const auto data = dir / "train.jsonl";
  {
    std::ofstream out(data);
    for (int i = 0; i < 300; ++i)
      out << "{\"text\": \"### Instruction:\\nSpell " << i << " in words.\\n### Response:\\ninstruction " << i
          << "\"}\n";
  }
  RunSpec s;
  s.model = dir.string();
  s.dataset = data.string();
  s.max_seq_length = 48;
  s.per_device_train_batch_size = 4;
  s.max_steps = 4;
  s.eval_steps = 2;
  s.eval_split = 0.1;
  s.gradient_checkpointing = true;
  std::vector<StepRecord> steps;
  const auto r = engine::train(
      s, [&](const StepRecord& rec) { steps.push_back(rec); }, nullptr);
  ASSERT_EQ(r.outcome, Outcome::completed) << r.detail;
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_TRUE(steps[1].eval_loss.has_value());
  EXPECT_TRUE(steps[3].eval_loss.has_value());
  // Loaded weights, not a fresh init: the first loss is that of the saved model (near log 300).
  EXPECT_NEAR(steps[0].loss, std::log(300.0), 0.5);

  // A token id past the model's vocabulary is refused before training.
  auto config = checkpoint::read_config(dir);
  config.llama.vocab_size = 200;
  std::ofstream(dir / "config.json") << checkpoint::hf_config_json(config.llama);
  const auto bad = engine::train(s, nullptr, nullptr);
  EXPECT_EQ(bad.outcome, Outcome::failed);
  EXPECT_NE(bad.detail.find("vocab_size"), std::string::npos) << bad.detail;
  std::filesystem::remove_all(dir);
}

// Deferred readback (the default for CUDA runs without capture) reads each step back once the
// next one is queued: the same records, in order, with the evaluation loss on its step and the
// last step not lost; only the time base differs.
TEST(Training, DeferredReadbackRecordsTheSameStepsAsEveryStepMode) {
  RunSpec s;
  s.max_steps = 5;
  s.gradient_accumulation_steps = 2;
  s.eval_split = 0.2;
  s.eval_steps = 2;
  s.max_eval_samples = 4;
  auto record = [&](bool deferred) {
    struct Collect final : engine::RunRecorder {
      std::vector<StepRecord> steps;
      void on_bundle(const StepBundle& b) override {
        if (b.step) steps.push_back(*b.step);
        EXPECT_EQ(b.memory.size(), 6u);
      }
    } rec;
    engine::TrainOptions options;
    options.deferred_readback = deferred;
    const auto r = engine::train(s, &rec, nullptr, options);
    EXPECT_EQ(r.outcome, Outcome::completed) << r.detail;
    EXPECT_EQ(r.steps_done, s.max_steps);
    return rec.steps;
  };
  const auto every = record(false);
  const auto deferred = record(true);
  ASSERT_EQ(every.size(), static_cast<std::size_t>(s.max_steps));
  ASSERT_EQ(deferred.size(), every.size());
  for (std::size_t i = 0; i < every.size(); ++i) {
    EXPECT_EQ(deferred[i].step, static_cast<std::int64_t>(i) + 1);
    EXPECT_DOUBLE_EQ(deferred[i].loss, every[i].loss) << "step " << i + 1;
    EXPECT_DOUBLE_EQ(deferred[i].lr, every[i].lr);
    EXPECT_EQ(deferred[i].tokens, every[i].tokens);
    EXPECT_EQ(deferred[i].eval_loss.has_value(), (i + 1) % 2 == 0);
    if (deferred[i].eval_loss && every[i].eval_loss) {
      EXPECT_DOUBLE_EQ(*deferred[i].eval_loss, *every[i].eval_loss);
    }
    EXPECT_GT(deferred[i].step_ms, 0.0);
    EXPECT_GT(*deferred[i].forward_ms, 0.0);
    EXPECT_GT(*deferred[i].backward_ms, 0.0);
  }
}

TEST(Training, DeferredReadbackStillStopsOnCancel) {
  RunSpec s;
  s.max_steps = 50;
  std::atomic<bool> cancel{false};
  struct Cancel final : engine::RunRecorder {
    std::atomic<bool>* cancel = nullptr;
    int seen = 0;
    void on_bundle(const StepBundle& b) override {
      if (b.step && ++seen == 3) *cancel = true;
    }
  } rec;
  rec.cancel = &cancel;
  engine::TrainOptions options;
  options.deferred_readback = true;
  const auto r = engine::train(s, &rec, &cancel, options);
  EXPECT_EQ(r.outcome, Outcome::cancelled);
  // Step 3 is read back once step 4 is queued: step 4 completes and is recorded too.
  EXPECT_EQ(rec.seen, 4);
  EXPECT_EQ(r.steps_done, 4);
}
