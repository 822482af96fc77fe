#include <gtest/gtest.h>

#include <string>

#include "spec/sweep_spec.h"

using optiscope::SpecError;
using optiscope::sweep_spec_from_json;

namespace {

std::string error_of(const std::string& text) {
  try {
    sweep_spec_from_json(text);
  } catch (const SpecError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(SweepSpec, TheGridIsTheProductAndOptimizersShareAComparison) {
  const auto s = sweep_spec_from_json(R"({"name": "grid", "model": "tiny", "max_steps": 5,
      "learning_rate": [0.001, 0.003], "optim": ["adamw_torch", "adamw_8bit"], "seed": [1, 2, 3]})");
  EXPECT_EQ(s.name, "grid");
  ASSERT_EQ(s.runs.size(), 12u);
  ASSERT_EQ(s.comparisons.size(), 6u) << "one comparison per non-optimizer combination";
  EXPECT_EQ((std::vector<std::string>{"learning_rate", "seed", "optim"}), s.varying);
  // The file's order: the first key varies slowest; the optimizer innermost.
  EXPECT_EQ(s.comparisons[0].spec.name, "grid lr=0.001 seed=1");
  EXPECT_EQ(s.comparisons[1].spec.name, "grid lr=0.001 seed=2");
  EXPECT_EQ(s.comparisons[5].spec.name, "grid lr=0.003 seed=3");
  EXPECT_EQ((std::vector<std::string>{"adamw_torch", "adamw_8bit"}), s.comparisons[4].spec.optims);
  EXPECT_EQ(s.comparisons[4].runs, (std::vector<int>{8, 9}));
  const auto& r = s.runs[9];
  EXPECT_EQ(r.index, 9);
  EXPECT_EQ(r.comparison, 4);
  EXPECT_EQ(r.ordinal, 1);
  EXPECT_EQ(r.label, "adamw_8bit lr=0.003 seed=2");
  EXPECT_EQ(r.spec.optim, "adamw_8bit");
  EXPECT_DOUBLE_EQ(r.spec.learning_rate, 0.003);
  EXPECT_EQ(r.spec.seed, 2u);
  EXPECT_EQ(r.spec.max_steps, 5);
  EXPECT_EQ(s.comparisons[4].spec.base.seed, 2u);
}

TEST(SweepSpec, AComparisonSpecIsASweepOfOneComparison) {
  const auto s = sweep_spec_from_json(R"({"name": "plain", "optims": ["adamw_torch", "paged_adamw_8bit"]})");
  ASSERT_EQ(s.comparisons.size(), 1u);
  EXPECT_EQ(s.comparisons[0].spec.name, "plain");
  EXPECT_EQ(s.runs[1].label, "paged_adamw_8bit");
  const auto one = sweep_spec_from_json(R"({"seed": [4, 5]})");
  ASSERT_EQ(one.runs.size(), 2u);
  EXPECT_EQ(one.runs[0].spec.optim, "adamw_torch") << "the run spec's default variant";
  EXPECT_EQ(one.comparisons[1].spec.name, "sweep seed=5");
  const auto keys = sweep_spec_from_json(
      R"({"max_seq_length": [32, 64], "per_device_train_batch_size": [2], "device": ["cpu"], "bf16": [true]})");
  EXPECT_EQ(keys.runs[1].label, "adamw_torch seq_len=64 batch=2 device=cpu bf16=true");
  EXPECT_EQ(keys.runs[1].spec.precision, "bf16");
}

TEST(SweepSpec, EveryPointIsValidatedAndTheBadOneNamed) {
  const auto e = error_of(R"({"learning_rate": [0.001, -1], "seed": [1, 2]})");
  EXPECT_NE(e.find("sweep point 3 of 4 (adamw_torch lr=-1 seed=1)"), std::string::npos) << e;
  EXPECT_NE(e.find("learning_rate"), std::string::npos) << e;
  EXPECT_NE(error_of(R"({"optim": ["adamw_torch", "adam_9bit"]})").find("unknown optimizer 'adam_9bit'"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"max_steps": [1, "many"]})").find("'max_steps'"), std::string::npos);
  EXPECT_NE(error_of(R"({"seed": []})").find("empty list"), std::string::npos);
  EXPECT_NE(error_of(R"({"seed": [1, 1]})").find("twice"), std::string::npos);
  EXPECT_NE(error_of(R"({"seed": [[1]]})").find("plain value"), std::string::npos);
  EXPECT_NE(error_of(R"({"sead": [1]})").find("unknown spec key 'sead'"), std::string::npos);
  EXPECT_NE(error_of(R"({"optim": "adamw_torch", "optims": ["adamw_8bit"]})").find("not both"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"name": 3})").find("'name'"), std::string::npos);
  EXPECT_NE(error_of("[1, 2]").find("JSON object"), std::string::npos);
  EXPECT_NE(error_of("{").find("not valid JSON"), std::string::npos);
}

TEST(SweepSpec, RanksAreRefusedInASweepForNow) {
  const auto e = error_of(R"({"nproc_per_node": [1, 2], "zero_stage": 0})");
  EXPECT_NE(e.find("sweep point 2 of 2"), std::string::npos) << e;
  EXPECT_NE(e.find("nproc_per_node 2 is not supported in a sweep"), std::string::npos) << e;
}

TEST(SweepSpec, AHugeGridIsRefusedBeforeItIsBuilt) {
  std::string list = "[";
  for (int i = 0; i < 200; ++i) list += (i ? "," : "") + std::to_string(i + 1);
  list += "]";
  const auto e =
      error_of("{\"seed\": " + list + ", \"max_steps\": " + list + ", \"logging_steps\": " + list + "}");
  EXPECT_NE(e.find("more than 10000 runs"), std::string::npos) << e;
}
