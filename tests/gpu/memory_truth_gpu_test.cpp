// Memory truth on a real GPU, through the trainer as a user's run goes: a budget that forces the
// page manager to evict a few hundred MiB of paged state every step, the ledger checked against the
// migrations CUPTI recorded, the driver's cache of evicted pages seen as its own category, and a run
// whose demand outgrows its budget recorded as over_budget. Skips itself, loudly, without a GPU.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "engine/trainer.h"

using namespace optiscope;

namespace {

constexpr std::int64_t kMiB = std::int64_t{1} << 20;

#define REQUIRE_CUDA()                                                                                  \
  do {                                                                                                  \
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device: GPU memory-truth tests skipped"; \
  } while (0)

struct Recorded {
  engine::TrainResult result;
  CaptureInfo capture;
  std::vector<StepBundle> bundles;
  std::int64_t peak_demand() const {
    std::int64_t d = 0;
    for (const auto& b : bundles)
      for (const auto& m : b.memory) d = std::max(d, m.demand());
    return d;
  }
};

Recorded record(const RunSpec& spec) {
  struct Collect final : engine::RunRecorder {
    Recorded* out;
    void on_capture(const CaptureInfo& c) override { out->capture = c; }
    void on_bundle(const StepBundle& b) override { out->bundles.push_back(b); }
  } collect;
  Recorded r;
  collect.out = &r;
  r.result = engine::train(spec, &collect, nullptr);
  return r;
}

// Llama-3.2-1B in bf16 with paged 8-bit state (about 2.3 GiB of it), one short sequence a step:
// quick steps, enough state to page.
RunSpec paged_1b(int steps) {
  RunSpec s;
  s.model = "llama-3.2-1b";
  s.optim = "paged_adamw_8bit";
  s.precision = "bf16";
  s.per_device_train_batch_size = 1;
  s.max_seq_length = 128;
  s.max_steps = steps;
  s.learning_rate = 1e-5;
  s.device = "cuda";
  return s;
}

}  // namespace

TEST(GpuMemoryTruth, BudgetForcesEvictionsAndTheLedgerAgreesWithTheMigrations) {
  REQUIRE_CUDA();
  const Recorded free_run = record(paged_1b(2));
  ASSERT_EQ(free_run.result.outcome, Outcome::completed) << free_run.result.detail;
  ASSERT_TRUE(free_run.capture.um_counters)
      << "this test needs CUPTI's unified-memory counters: " << free_run.capture.note;
  const std::int64_t unbudgeted = free_run.peak_demand();

  RunSpec spec = paged_1b(5);
  const std::int64_t squeeze = 600 * kMiB;
  spec.device_budget_bytes = static_cast<std::uint64_t>(unbudgeted - squeeze);
  const Recorded r = record(spec);
  ASSERT_EQ(r.result.outcome, Outcome::completed) << r.result.detail;

  std::int64_t evicted = 0;
  std::int64_t driver_cache = 0;
  int measured_steps = 0;
  for (const auto& b : r.bundles) {
    for (const auto& p : b.paging) {
      if (!p.measured_resident) continue;
      ++measured_steps;
      evicted += p.manager_dtoh;
      const double disagreement = p.ledger_disagreement().value_or(1.0);
      std::printf(
          "[ info ] step %lld: ledger %.1f MiB, measured %.1f MiB (peak %.1f), evicted %.1f MiB, %.3f %%\n",
          static_cast<long long>(p.step), static_cast<double>(p.ledger_resident) / kMiB,
          static_cast<double>(*p.measured_resident) / kMiB,
          static_cast<double>(p.measured_resident_peak.value_or(0)) / kMiB,
          static_cast<double>(p.manager_dtoh) / kMiB, disagreement * 100.0);
      EXPECT_LE(disagreement, 0.01) << "step " << p.step << ": ledger and migrations disagree by over 1 %";
      EXPECT_EQ(p.disagreeing_allocations, 0) << "step " << p.step;
    }
    for (const auto& m : b.memory) driver_cache = std::max(driver_cache, m.driver_cache);
  }
  EXPECT_GE(measured_steps, 5);
  EXPECT_GE(evicted, 5 * (squeeze / 2)) << "the budget should force a few hundred MiB out every step";
  EXPECT_GT(driver_cache, 0) << "after evictions the driver keeps their device chunks (H200, 2026-12-04)";
  EXPECT_LE(r.peak_demand(), static_cast<std::int64_t>(spec.device_budget_bytes))
      << "measured demand stays within the budget at every sample";
  std::printf(
      "[ info ] unbudgeted demand %.1f MiB, budget %.1f MiB, peak demand %.1f MiB, driver cache up to %.1f "
      "MiB\n",
      static_cast<double>(unbudgeted) / kMiB, static_cast<double>(spec.device_budget_bytes) / kMiB,
      static_cast<double>(r.peak_demand()) / kMiB, static_cast<double>(driver_cache) / kMiB);
}

TEST(GpuMemoryTruth, ARunWhoseDemandOutgrowsItsBudgetEndsOverBudget) {
  REQUIRE_CUDA();
  const Recorded free_run = record(paged_1b(2));
  ASSERT_EQ(free_run.result.outcome, Outcome::completed) << free_run.result.detail;
  std::int64_t paged = 0;
  for (const auto& b : free_run.bundles)
    for (const auto& m : b.memory) paged = std::max(paged, m.optimizer_paged_resident);
  ASSERT_GT(paged, 1024 * kMiB);
  // Room for 100 MiB of paged state beside what training reserves at its largest. The embedding's moments are
  // one managed block of about 500 MiB that must be on the device while it is updated, so the measured demand
  // goes over the budget, while the allocator alone never reaches its cap.
  RunSpec spec = paged_1b(3);
  spec.device_budget_bytes = static_cast<std::uint64_t>(free_run.peak_demand() - paged + 100 * kMiB);
  const Recorded r = record(spec);
  ASSERT_EQ(r.result.outcome, Outcome::over_budget) << r.result.detail;
  ASSERT_TRUE(r.result.over_budget_step.has_value());
  // The first step whose allocator holds what training needs beside the embedding's state: step 1
  // leaves more room (the allocator has not grown yet), so on the H200 it was step 3.
  EXPECT_GE(*r.result.over_budget_step, 1);
  EXPECT_LE(*r.result.over_budget_step, 3);
  EXPECT_GT(r.result.over_budget_bytes.value_or(0), static_cast<std::int64_t>(spec.device_budget_bytes));
  EXPECT_EQ(r.result.steps_done, 3) << "an over-budget run is recorded to its end, not stopped";
  std::printf("[ info ] %s\n", r.result.detail.c_str());
}
