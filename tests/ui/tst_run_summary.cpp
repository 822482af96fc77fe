// summarize(): the numbers the run details panel shows.
#include <QTest>
#include <limits>

#include "run_summary.h"

using optiscope::StepRecord;
using optiscope::ui::summarize;

namespace {

StepRecord stepRecord(std::int64_t step, double loss, double ms, std::int64_t tokens, std::int64_t mem) {
  StepRecord r;
  r.step = step;
  r.loss = loss;
  r.step_ms = ms;
  r.tokens = tokens;
  r.mem_bytes = mem;
  return r;
}

}  // namespace

class RunSummaryTest : public QObject {
  Q_OBJECT

 private slots:
  void emptyRun() {
    const auto s = summarize({});
    QCOMPARE(s.steps, 0);
    QVERIFY(!s.final_loss && !s.median_step_ms && !s.tokens_per_second && !s.peak_mem_bytes);
  }

  void numbers() {
    std::vector<StepRecord> steps;
    for (int i = 1; i <= 20; ++i)
      steps.push_back(stepRecord(i, i <= 10 ? 5.0 : 2.0, i == 1 ? 900.0 : 100.0, 500, i * 10));
    const auto s = summarize(steps, 10);
    QCOMPARE(s.steps, 20);
    QCOMPARE(*s.final_loss, 2.0);            // the last ten steps only
    QCOMPARE(*s.median_step_ms, 100.0);      // the slow first step does not count
    QCOMPARE(*s.tokens_per_second, 5000.0);  // 500 tokens in a typical 100 ms
    QCOMPARE(*s.peak_mem_bytes, std::int64_t{200});
  }

  void divergedStepsLeaveTheLossAlone() {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const auto s = summarize({stepRecord(1, 3.0, 1, 1, 1), stepRecord(2, nan, 1, 1, 1)}, 10);
    QCOMPARE(*s.final_loss, 3.0);
  }
};

QTEST_GUILESS_MAIN(RunSummaryTest)
#include "tst_run_summary.moc"
