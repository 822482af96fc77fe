#include <gtest/gtest.h>

#include <filesystem>

#include "store/run_summary.h"

using namespace optiscope;

TEST(RunSummary, PicksTheLargestPeakAndAveragesTheLastLosses) {
  const auto path =
      (std::filesystem::temp_directory_path() / ("summary-" + std::to_string(::getpid()) + ".db")).string();
  std::filesystem::remove(path);
  {
    Store s = Store::open(path, Store::Mode::read_write);
    const auto run = s.begin_run(s.add_comparison("c", "{}"), 0, "paged_adamw_8bit", "{}", "gpu");
    for (int i = 1; i <= 20; ++i) {
      StepBundle b;
      b.step = StepRecord{i, 10.0 - i * 0.1, 1e-5, i == 1 ? 500.0 : 100.0, 2048, 0};
      MemorySample peak;
      peak.step = i;
      peak.phase = Phase::backward;
      peak.point = SamplePoint::peak;
      peak.parameters = 100;
      peak.activations = i == 7 ? 900 : 50;
      peak.optimizer_paged_host = i == 3 ? 77 : 0;
      b.memory.push_back(peak);
      b.paging.push_back(PagingStep{i, 10, 5, 8, 5, 1, 0, 0, 0});
      s.append_bundle(run, b);
    }
    auto info = s.run(run);
    info.outcome = Outcome::completed;
    s.finish_run(info);
  }
  const Store r = Store::open(path, Store::Mode::read_only);
  const auto rows = summarize_runs(r, r.runs());
  ASSERT_EQ(rows.size(), 1u);
  const auto& x = rows[0];
  EXPECT_EQ(x.steps, 20);
  EXPECT_DOUBLE_EQ(x.first_loss, 9.9);
  EXPECT_NEAR(x.final_loss, (8.9 + 8.0) / 2.0, 1e-9) << "mean of steps 11..20";
  EXPECT_DOUBLE_EQ(x.median_step_ms, 100.0) << "one slow first step does not set the time";
  EXPECT_DOUBLE_EQ(x.tokens_per_s, 20480.0);
  EXPECT_EQ(x.peak_device_bytes, 1000);
  EXPECT_EQ(x.peak.step, 7);
  EXPECT_EQ(x.paged_host_max, 77);
  EXPECT_EQ(x.migrated_htod, 160);
  EXPECT_EQ(x.manager_htod, 200);
  const auto csv = summaries_to_csv(rows);
  EXPECT_EQ(csv.substr(0, 27), "run,comparison,optim,outcom");
  EXPECT_NE(summaries_to_markdown(rows).find("| paged_adamw_8bit | completed |"), std::string::npos);
  std::filesystem::remove(path);
}

// The fit figure: what a step's migrations measured above the ledger is added beside that step's
// samples only, never beside another step's.
TEST(PeakDemand, MeasuredExcessOverTheLedgerCountsWithinItsStep) {
  optiscope::MemorySample a;
  a.step = 1;
  a.allocator_cache = 1000;
  a.optimizer_paged_resident = 100;
  a.context = 10;
  optiscope::MemorySample b;
  b.step = 2;
  b.allocator_cache = 500;
  b.optimizer_paged_resident = 100;
  optiscope::PagingStep p1;
  p1.step = 1;
  p1.measured_resident_peak = 100;
  optiscope::PagingStep p2;
  p2.step = 2;
  p2.measured_resident_peak = 400;
  EXPECT_EQ(optiscope::peak_demand_bytes({a, b}, {}), 1110);
  EXPECT_EQ(optiscope::peak_demand_bytes({a, b}, {p1}), 1110);
  EXPECT_EQ(optiscope::peak_demand_bytes({a, b}, {p1, p2}), 1110) << "step 2's peak beside step 2's 500 only";
  b.allocator_cache = 900;
  EXPECT_EQ(optiscope::peak_demand_bytes({a, b}, {p1, p2}), 1300);
}

// The page manager gives residency back when the allocator grows: a step's samples then carry
// their own residency, and a measured peak that the ledger accounts for adds nothing.
TEST(PeakDemand, ResidencyGivenBackAsTheAllocatorGrowsIsNotCountedTwice) {
  optiscope::MemorySample backward;  // the allocator grew; the manager evicted to make room
  backward.step = 2;
  backward.activations = 700;
  backward.optimizer_paged_resident = 200;
  optiscope::MemorySample optimizer;  // the optimizer phase refilled what the allocator left
  optimizer.step = 2;
  optimizer.parameters = 500;
  optimizer.optimizer_paged_resident = 400;
  optiscope::PagingStep measured;
  measured.step = 2;
  measured.measured_resident_peak = 400;
  EXPECT_EQ(optiscope::peak_demand_bytes({backward, optimizer}, {measured}), 900);
  measured.measured_resident_peak = 450;  // 50 moved that the ledger does not know of
  EXPECT_EQ(optiscope::peak_demand_bytes({backward, optimizer}, {measured}), 950);
  optiscope::MemorySample previous;  // step 1 ended with more resident than step 2 ever had
  previous.step = 1;
  previous.optimizer_paged_resident = 450;
  EXPECT_EQ(optiscope::peak_demand_bytes({previous, backward, optimizer}, {measured}), 900)
      << "step 2 began with 450 resident by the ledger, so the measured 450 is accounted for";
}
