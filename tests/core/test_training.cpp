#include <gtest/gtest.h>

#include <vector>

#include "engine/trainer.h"

using namespace optiscope;

namespace {

std::vector<StepRecord> run(const std::string& optim, int steps) {
  RunSpec s;
  s.optim = optim;
  s.max_steps = steps;
  std::vector<StepRecord> out;
  const auto r = engine::train(s, [&](const StepRecord& rec) { out.push_back(rec); }, nullptr);
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
