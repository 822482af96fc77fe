#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "importer_test_util.h"
#include "importers/trainer_state.h"
#include "store/store.h"

using optiscope::Outcome;
using optiscope::Store;
using optiscope::StoreError;
using optiscope::importers::ImportError;
using optiscope::importers::TrainerStateData;
using optiscope::importers::TrainerStateImportOptions;
namespace imp = optiscope::importers;

namespace {

// The layout transformers.Trainer writes (TrainerState.save_to_json): training logs every
// logging_steps, evaluation logs, and the summary entry train() appends at the end.
constexpr const char* kTrainerState = R"({
  "best_metric": null,
  "best_model_checkpoint": null,
  "epoch": 1.0,
  "eval_steps": 10,
  "global_step": 20,
  "is_hyper_param_search": false,
  "is_local_process_zero": true,
  "is_world_process_zero": true,
  "log_history": [
    {"epoch": 0.25, "grad_norm": 3.1, "learning_rate": 1e-05, "loss": 2.5, "step": 5},
    {"epoch": 0.5, "grad_norm": 2.0, "learning_rate": 8e-06, "loss": 2.0, "step": 10},
    {"epoch": 0.5, "eval_loss": 2.1, "eval_runtime": 1.5, "eval_samples_per_second": 40.0,
     "eval_steps_per_second": 5.0, "step": 10},
    {"epoch": 0.75, "grad_norm": 1.5, "learning_rate": 6e-06, "loss": 1.75, "step": 15},
    {"epoch": 1.0, "grad_norm": 1.2, "learning_rate": 4e-06, "loss": 1.5, "step": 20},
    {"epoch": 1.0, "eval_loss": 1.6, "eval_runtime": 1.5, "step": 20},
    {"epoch": 1.0, "step": 20, "total_flos": 1.5e15, "train_loss": 1.9, "train_runtime": 30.0,
     "train_samples_per_second": 10.7, "train_steps_per_second": 0.667}
  ],
  "logging_steps": 5,
  "max_steps": 20,
  "num_input_tokens_seen": 0,
  "num_train_epochs": 1,
  "save_steps": 500,
  "total_flos": 1.5e15,
  "train_batch_size": 4,
  "trial_name": null,
  "trial_params": null
})";

class TrainerStateTest : public optiscope::test::TempDirTest {};

}  // namespace

TEST_F(TrainerStateTest, LogHistoryBecomesOneCompletedRun) {
  std::filesystem::create_directories(dir_ / "Llama-3.2-3B_adamw_8bit" / "checkpoint-20");
  const auto file = path("Llama-3.2-3B_adamw_8bit/checkpoint-20/trainer_state.json");
  std::ofstream(file) << kTrainerState;
  const auto data = imp::read_trainer_state(file);
  ASSERT_EQ(data.steps.size(), 4u);
  EXPECT_EQ(data.global_step, 20);
  EXPECT_EQ(data.eval_points, 2u);

  Store store = Store::open(path("s.db"), Store::Mode::read_write);
  const auto result = imp::write_trainer_state(store, data, {"", "adamw_8bit"});
  EXPECT_TRUE(result.created_run);
  EXPECT_NE(result.summary.find("4 logged steps"), std::string::npos) << result.summary;

  const auto comparisons = store.comparisons();
  ASSERT_EQ(comparisons.size(), 1u);
  EXPECT_EQ(comparisons[0].name,
            "HF Trainer: Llama-3.2-3B_adamw_8bit/checkpoint-20/trainer_state.json (adamw_8bit)");
  const auto run = store.run(result.run_id);
  EXPECT_EQ(run.optim, "adamw_8bit");
  EXPECT_EQ(run.device, "imported");
  EXPECT_EQ(run.outcome, Outcome::completed);
  EXPECT_NE(run.spec_json.find("\"imported_from\": \"hf_trainer_state\""), std::string::npos);

  const auto steps = store.steps(result.run_id);
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_EQ(steps[0].step, 5);
  EXPECT_DOUBLE_EQ(steps[0].loss, 2.5);
  EXPECT_DOUBLE_EQ(steps[0].lr, 1e-05);
  EXPECT_FALSE(steps[0].eval_loss.has_value());
  EXPECT_EQ(steps[1].step, 10);
  ASSERT_TRUE(steps[1].eval_loss.has_value());
  EXPECT_DOUBLE_EQ(*steps[1].eval_loss, 2.1);
  ASSERT_TRUE(steps[3].eval_loss.has_value());
  EXPECT_DOUBLE_EQ(*steps[3].eval_loss, 1.6);
  // 30 s over 20 steps: 1.5 s a step, the same for every logged step.
  for (const auto& s : steps) EXPECT_DOUBLE_EQ(s.step_ms, 1500.0);
}

TEST_F(TrainerStateTest, OptimComesFromArgsUnlessGiven) {
  std::string text = kTrainerState;
  text.insert(1, R"("args": {"optim": "paged_adamw_32bit", "learning_rate": 1e-05},)");
  const auto data = imp::parse_trainer_state(text, "x/trainer_state.json");
  EXPECT_EQ(data.optim, "paged_adamw_32bit");
  EXPECT_EQ(imp::resolve_optim(data, {}), "paged_adamw_32bit");
  EXPECT_EQ(imp::resolve_optim(data, {"", "adamw_torch"}), "adamw_torch");
}

TEST_F(TrainerStateTest, MissingOptimIsAClearError) {
  const auto data = imp::parse_trainer_state(kTrainerState, "run/trainer_state.json");
  try {
    imp::resolve_optim(data, {});
    FAIL() << "expected ImportError";
  } catch (const ImportError& e) {
    EXPECT_NE(std::string(e.what()).find("--optim"), std::string::npos) << e.what();
  }
  EXPECT_THROW(imp::resolve_optim(data, {"", "adam w; drop table"}), ImportError);
}

TEST_F(TrainerStateTest, PythonNanAndInfinityAreSkippedNotStored) {
  const std::string text = R"({"log_history": [
    {"loss": 2.0, "learning_rate": 1e-3, "step": 1},
    {"loss": NaN, "learning_rate": 1e-3, "step": 2},
    {"loss": Infinity, "step": 3},
    {"loss": -Infinity, "step": 4},
    {"loss": 1.0, "learning_rate": 1e-3, "step": 5, "note": "NaN in a string stays text"}
  ]})";
  const auto data = imp::parse_trainer_state(text);
  EXPECT_EQ(data.nonfinite_losses, 3u);
  ASSERT_EQ(data.steps.size(), 2u);
  EXPECT_EQ(data.steps[1].step, 5);
  Store store = Store::open(path("s.db"), Store::Mode::read_write);
  const auto result = imp::write_trainer_state(store, data, {"diverged", "adamw_8bit"});
  EXPECT_EQ(store.steps(result.run_id).size(), 2u);
  EXPECT_NE(result.summary.find("3 NaN or infinite"), std::string::npos);
}

TEST_F(TrainerStateTest, TokensPerStepFromCumulativeTokensSeen) {
  const std::string text = R"({"log_history": [
    {"loss": 2.0, "step": 10, "num_input_tokens_seen": 20480},
    {"loss": 1.5, "step": 20, "num_input_tokens_seen": 40960}
  ]})";
  const auto data = imp::parse_trainer_state(text);
  ASSERT_EQ(data.steps.size(), 2u);
  EXPECT_EQ(data.steps[0].tokens, 2048);
  EXPECT_EQ(data.steps[1].tokens, 2048);
  EXPECT_DOUBLE_EQ(data.steps[0].step_ms, 0.0);  // no train_runtime: no timing
}

TEST_F(TrainerStateTest, RepeatedStepKeepsTheLastAndEvalWithoutTrainLogIsCounted) {
  const std::string text = R"({"log_history": [
    {"loss": 2.0, "step": 5},
    {"eval_loss": 2.2, "step": 7},
    {"loss": 1.9, "step": 5},
    {"loss": 1.8, "step": 10.0}
  ]})";
  const auto data = imp::parse_trainer_state(text);
  ASSERT_EQ(data.steps.size(), 2u);
  EXPECT_DOUBLE_EQ(data.steps[0].loss, 1.9);
  EXPECT_EQ(data.steps[1].step, 10);
  EXPECT_EQ(data.repeated_steps, 1u);
  EXPECT_EQ(data.eval_without_train_log, 1u);
  EXPECT_EQ(data.eval_points, 0u);
}

struct BadInput {
  const char* name;
  const char* text;
  const char* message;  // part of the error the user sees
};

// Names the case in test listings instead of dumping the struct's bytes.
void PrintTo(const BadInput& c, std::ostream* os) {
  *os << c.name;
}

class TrainerStateBadInput : public ::testing::TestWithParam<BadInput> {};

TEST_P(TrainerStateBadInput, IsRefusedWithAMessage) {
  const auto& c = GetParam();
  try {
    imp::parse_trainer_state(c.text, "t.json");
    FAIL() << "expected ImportError for " << c.name;
  } catch (const ImportError& e) {
    EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, TrainerStateBadInput,
    ::testing::Values(
        BadInput{"malformed", R"({"log_history": [{"loss": 1.0, "step": 1},)", "not valid JSON"},
        BadInput{"empty", "", "not valid JSON"},
        BadInput{"top_level_array", R"([{"loss": 1.0, "step": 1}])", "top level must be a JSON object"},
        BadInput{"no_log_history", R"({"global_step": 10})", "no log_history list"},
        BadInput{"log_history_not_list", R"({"log_history": {"loss": 1}})", "no log_history list"},
        BadInput{"entry_not_object", R"({"log_history": [3]})", "log_history[0] is not an object"},
        BadInput{"missing_step", R"({"log_history": [{"loss": 1.0, "step": 1}, {"loss": 0.5}]})",
                 "log_history[1].step is missing"},
        BadInput{"step_text", R"({"log_history": [{"loss": 1.0, "step": "one"}]})", "must be a whole number"},
        BadInput{"step_fraction", R"({"log_history": [{"loss": 1.0, "step": 1.5}]})",
                 "must be a whole number"},
        BadInput{"step_zero", R"({"log_history": [{"loss": 1.0, "step": 0}]})", "must be at least 1"},
        BadInput{"loss_text", R"({"log_history": [{"loss": "low", "step": 1}]})",
                 "log_history[0].loss must be a number"},
        BadInput{"lr_text", R"({"log_history": [{"loss": 1.0, "learning_rate": "1e-3", "step": 1}]})",
                 "learning_rate must be a number"},
        BadInput{"no_losses", R"({"log_history": [{"eval_loss": 1.0, "step": 1}]})",
                 "no finite training loss"},
        BadInput{"only_nan", R"({"log_history": [{"loss": NaN, "step": 1}]})", "1 NaN or infinite"},
        BadInput{"negative_runtime", R"({"log_history": [{"loss": 1.0, "step": 1}, {"train_runtime": -3}]})",
                 "must not be negative"}),
    [](const ::testing::TestParamInfo<BadInput>& case_info) { return std::string(case_info.param.name); });

TEST_F(TrainerStateTest, RefusedFilesLeaveNoStoreBehindAndMissingFilesSaySo) {
  write("bad.json", "{\"log_history\": [");
  EXPECT_THROW(imp::read_trainer_state(path("bad.json")), ImportError);
  EXPECT_THROW(imp::read_trainer_state(path("absent.json")), ImportError);
  EXPECT_THROW(imp::read_trainer_state(dir_.string()), ImportError);  // a folder is not a file
  EXPECT_FALSE(std::filesystem::exists(path("s.db")));
}

TEST_F(TrainerStateTest, AFailedWriteLeavesNothingHalfWritten) {
  Store store = Store::open(path("s.db"), Store::Mode::read_write);
  TrainerStateData data;
  data.source_path = "t.json";
  data.steps.resize(3);
  for (int i = 0; i < 3; ++i) {
    data.steps[i].step = i + 1;
    data.steps[i].loss = 1.0;
  }
  // The parser never lets a NaN through; one forced in here makes the third insert fail (SQLite
  // stores NaN as NULL, and loss is NOT NULL) after the comparison, the run and two steps went in.
  data.steps[2].loss = std::nan("");
  EXPECT_THROW(imp::write_trainer_state(store, data, {"", "adamw_torch"}), StoreError);
  EXPECT_TRUE(store.comparisons().empty());
  EXPECT_TRUE(store.runs().empty());
  // The connection is usable again: the next import goes in whole.
  data.steps[2].loss = 0.5;
  const auto result = imp::write_trainer_state(store, data, {"", "adamw_torch"});
  EXPECT_EQ(store.steps(result.run_id).size(), 3u);
  EXPECT_EQ(store.comparisons().size(), 1u);
}
