// An out-of-memory is a result to show, not a crash: under a budget on the CPU tracking allocator
// the variant that does not fit is recorded as oom with its step and memory, the comparison goes
// on with the next variant, and optiscope-cli runs to the end and exits 3 (documented in --help).
#include "support.h"

namespace optiscope::reliability {
namespace {

// On the tiny preset (batch 16 x 64 tokens) a step peaks at about 59.0 MB with adamw_torch and
// 54.1 MB with adamw_8bit: a 56.5 MB budget (0.0526 GiB) fits the 8-bit variant only. The tracker
// counts tensor bytes exactly, so these figures do not depend on the machine.
constexpr const char* kBudgetGb = "0.0526";
constexpr std::int64_t kBudgetBytes = static_cast<std::int64_t>(0.0526 * 1024.0 * 1024.0 * 1024.0);

TEST(OomOutcome, AVariantOverBudgetIsRecordedAndTheNextOneRuns) {
  const ScratchDir dir;
  const auto db = dir / "oom.db";
  const auto r = run_cli(dir.path(), {"run", "--preset", "tiny", "--optim", "adamw_torch,adamw_8bit",
                                      "--steps", "4", "--budget-gb", kBudgetGb, "--db", db});
  EXPECT_EQ(r.signal, 0) << r.describe();
  EXPECT_EQ(r.exit_code, 3) << "exit code 3: a variant ended out of memory\n" << r.describe();
  // The summary table covers both variants: the program went on after the OOM.
  EXPECT_NE(r.out.find("adamw_torch            oom"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("adamw_8bit             completed"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("adamw_torch: oom: CPU budget exceeded"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("adamw_8bit: completed"), std::string::npos) << r.err;

  const Store s = Store::open(db, Store::Mode::read_only);
  ASSERT_EQ(s.comparisons().size(), 1u);
  const auto runs = s.runs();
  ASSERT_EQ(runs.size(), 2u);
  const auto& oom = runs[0];
  EXPECT_EQ(oom.optim, "adamw_torch");
  EXPECT_EQ(oom.outcome, Outcome::oom);
  ASSERT_TRUE(oom.oom_step.has_value());
  EXPECT_EQ(*oom.oom_step, 1) << "the optimizer state of step 1 is what does not fit";
  ASSERT_TRUE(oom.oom_bytes.has_value());
  EXPECT_GT(*oom.oom_bytes, kBudgetBytes / 2);
  EXPECT_LE(*oom.oom_bytes, kBudgetBytes) << "the tracker never lets the peak pass the budget";
  EXPECT_NE(oom.outcome_detail.find("budget"), std::string::npos) << oom.outcome_detail;
  EXPECT_FALSE(oom.finished_at.empty());
  EXPECT_TRUE(s.steps(oom.id).empty()) << "no step of the OOM run completed";

  const auto& next = runs[1];
  EXPECT_EQ(next.optim, "adamw_8bit");
  EXPECT_EQ(next.outcome, Outcome::completed) << next.outcome_detail;
  const auto steps = s.steps(next.id);
  ASSERT_EQ(steps.size(), 4u);
  for (const auto& st : steps) EXPECT_LE(st.mem_bytes, kBudgetBytes);
  EXPECT_EQ(integrity(db), "ok\n");
}

// A budget too small for anything: every variant, a repeated one included, ends as its own oom
// with step and memory, and the program still runs them all and ends normally.
TEST(OomOutcome, EveryVariantOverBudgetStillEndsCleanly) {
  const ScratchDir dir;
  const auto db = dir / "all-oom.db";
  const auto r =
      run_cli(dir.path(), {"run", "--preset", "tiny", "--optim", "adamw_torch,adamw_8bit,adamw_torch",
                           "--steps", "2", "--budget-gb", "0.001", "--quiet", "--db", db});
  EXPECT_EQ(r.exit_code, 3) << r.describe();
  const Store s = Store::open(db, Store::Mode::read_only);
  const auto runs = s.runs();
  ASSERT_EQ(runs.size(), 3u);
  for (const auto& run : runs) {
    EXPECT_EQ(run.outcome, Outcome::oom) << run.optim << ": " << run.outcome_detail;
    EXPECT_TRUE(run.oom_step.has_value());
    EXPECT_TRUE(run.oom_bytes.has_value());
  }
}

}  // namespace
}  // namespace optiscope::reliability
