#include <gtest/gtest.h>

#include "spec/run_spec.h"

using namespace optiscope;

TEST(RunSpec, ReadsTrainingArgumentsKeys) {
  const auto s = run_spec_from_json(R"({"learning_rate": 1e-5, "per_device_train_batch_size": 4,
      "gradient_accumulation_steps": 2, "max_seq_length": 512, "warmup_ratio": 0.1,
      "lr_scheduler_type": "linear", "bf16": true, "max_steps": 50, "logging_steps": 5, "seed": 7,
      "optim": "paged_adamw_8bit", "model": "llama-3.2-1b"})");
  EXPECT_DOUBLE_EQ(s.learning_rate, 1e-5);
  EXPECT_EQ(s.per_device_train_batch_size, 4);
  EXPECT_EQ(s.gradient_accumulation_steps, 2);
  EXPECT_EQ(s.max_seq_length, 512);
  EXPECT_EQ(s.precision, "bf16");
  EXPECT_EQ(s.optim, "paged_adamw_8bit");
  EXPECT_EQ(s.seed, 7u);
}

TEST(RunSpec, RoundTripsThroughJson) {
  RunSpec s;
  s.optim = "adamw_8bit";
  s.max_steps = 33;
  s.device_budget_bytes = 40ull << 30;
  const auto back = run_spec_from_json(to_json(s));
  EXPECT_EQ(back.optim, "adamw_8bit");
  EXPECT_EQ(back.max_steps, 33);
  EXPECT_EQ(back.device_budget_bytes, 40ull << 30);
}

TEST(RunSpec, RejectsBadValuesWithClearMessages) {
  auto message = [](const std::string& json) {
    try {
      run_spec_from_json(json);
    } catch (const SpecError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(message(R"({"per_device_train_batch_size": 0})").find("per_device_train_batch_size"),
            std::string::npos);
  EXPECT_NE(message(R"({"learning_rate": -1})").find("learning_rate"), std::string::npos);
  EXPECT_NE(message(R"({"optim": "sgd_magic"})").find("unknown optimizer"), std::string::npos);
  EXPECT_NE(message(R"({"max_steps": "ten"})").find("wrong type"), std::string::npos);
  EXPECT_NE(message(R"({"learnig_rate": 1})").find("unknown spec key"), std::string::npos);
  EXPECT_NE(message(R"({"max_steps": 5,)").find("not valid JSON"), std::string::npos);
  EXPECT_NE(message("[1, 2]").find("JSON object"), std::string::npos);
}

TEST(ComparisonSpec, DefaultHasTwoVariantsAndRoundTrips) {
  const auto c = default_comparison();
  ASSERT_GE(c.optims.size(), 2u);
  const auto back = comparison_spec_from_json(to_json(c));
  EXPECT_EQ(back.optims, c.optims);
  EXPECT_EQ(back.name, c.name);
  EXPECT_THROW(comparison_spec_from_json(R"({"optims": []})"), SpecError);
}
