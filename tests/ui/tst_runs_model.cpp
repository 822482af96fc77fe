// RunsModel: structure under QAbstractItemModelTester, outcomes as text, check marks, and the
// merge that keeps the tree steady while a comparison is being recorded.
#include <QAbstractItemModelTester>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTest>

#include "outcome_text.h"
#include "runs_model.h"
#include "sample_store.h"
#include "variant_palette.h"

using namespace optiscope;
using optiscope::test::SampleRun;
using optiscope::ui::RunsModel;

class RunsModelTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

  void init() {
    QVERIFY(dir_.isValid());
    path_ = test::storePathIn(dir_, QTest::currentTestFunction());
    writer_ = std::make_unique<Store>(Store::open(path_, Store::Mode::read_write));
    first_ = test::writeComparison(*writer_, "first", {{"adamw_torch", 300}, {"adamw_8bit", 300}});
    second_ = test::writeComparison(*writer_, "second",
                                    {{"adamw_32bit", 200},
                                     {"paged_adamw_8bit", 150, Outcome::oom},
                                     {"paged_adamw_32bit", 120, Outcome::running}});
    reader_ = std::make_unique<Store>(Store::open(path_, Store::Mode::read_only));
  }

  void cleanup() {
    reader_.reset();
    writer_.reset();
  }

  void structureAndOutcomes() {
    RunsModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.reload(*reader_);

    QCOMPARE(model.rowCount(), 2);
    const QModelIndex first = model.index(0, 0);
    const QModelIndex second = model.index(1, 0);
    QCOMPARE(model.rowCount(first), 2);
    QCOMPARE(model.rowCount(second), 3);
    QCOMPARE(first.data().toString(), QStringLiteral("first"));
    QCOMPARE(model.index(1, 0, first).data().toString(), QStringLiteral("adamw_8bit"));

    const auto outcome = [&](int row) {
      return model.index(row, RunsModel::OutcomeColumn, second).data().toString();
    };
    QCOMPARE(outcome(0), QStringLiteral("completed"));
    QCOMPARE(outcome(1), QStringLiteral("oom at step 151"));
    QCOMPARE(outcome(2), QStringLiteral("running"));
    QVERIFY(
        model.index(1, 0, second).data(Qt::ToolTipRole).toString().contains(QStringLiteral("out of memory")));

    // Each run wears its variant's colour, the same one the charts use.
    QCOMPARE(model.index(0, 0, first).data(Qt::DecorationRole).value<QColor>(),
             ui::variantColor(QStringLiteral("adamw_torch")));
    QCOMPARE(model.index(0, 0, first).data(RunsModel::RunIdRole).toLongLong(), first_[0]);
  }

  void outcomeTexts() {
    RunInfo r;
    for (auto [o, text] : {std::pair{Outcome::completed, "completed"},
                           {Outcome::failed, "failed"},
                           {Outcome::cancelled, "cancelled"},
                           {Outcome::running, "running"},
                           {Outcome::interrupted, "interrupted"},
                           {Outcome::oom, "oom"}}) {
      r.outcome = o;
      QCOMPARE(ui::outcomeText(r), QString::fromLatin1(text));
    }
    r.outcome = Outcome::oom;
    r.oom_step = 57;
    QCOMPARE(ui::outcomeText(r), QStringLiteral("oom at step 57"));
  }

  void firstLoadChecksNewestComparison() {
    RunsModel model;
    model.reload(*reader_);
    const auto checked = model.checkedRuns();
    QCOMPARE(checked.size(), std::size_t{3});
    for (const auto& r : checked) QCOMPARE(r.comparison_id, reader_->run(second_[0]).comparison_id);
    QCOMPARE(model.index(0, 0).data(Qt::CheckStateRole).value<Qt::CheckState>(), Qt::Unchecked);
    QCOMPARE(model.index(1, 0).data(Qt::CheckStateRole).value<Qt::CheckState>(), Qt::Checked);
  }

  void checkMarks() {
    RunsModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.reload(*reader_);
    QSignalSpy changed(&model, &RunsModel::checkedRunsChanged);

    const QModelIndex second = model.index(1, 0);
    QVERIFY(model.setData(model.index(0, 0, second), Qt::Unchecked, Qt::CheckStateRole));
    QCOMPARE(changed.count(), 1);
    QCOMPARE(model.checkedRuns().size(), std::size_t{2});
    QCOMPARE(second.data(Qt::CheckStateRole).value<Qt::CheckState>(), Qt::PartiallyChecked);

    // Checking a comparison checks all of its runs, in one notification.
    QVERIFY(model.setData(model.index(0, 0), Qt::Checked, Qt::CheckStateRole));
    QCOMPARE(changed.count(), 2);
    QCOMPARE(model.checkedRuns().size(), std::size_t{4});
    QCOMPARE(model.index(0, 0).data(Qt::CheckStateRole).value<Qt::CheckState>(), Qt::Checked);

    model.setRunChecked(first_[1], false);
    QCOMPARE(changed.count(), 3);
    QCOMPARE(model.checkedRuns().front().id, first_[0]);
    QVERIFY(model.flags(model.index(0, 0, second)).testFlag(Qt::ItemIsUserCheckable));
  }

  void reloadMergesWithoutReset() {
    RunsModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.reload(*reader_);
    model.setRunChecked(second_[0], false);
    QSignalSpy resets(&model, &QAbstractItemModel::modelReset);
    QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);

    // The running run finishes and the comparison gets one more variant.
    RunInfo running = writer_->run(second_[2]);
    running.outcome = Outcome::completed;
    writer_->finish_run(running);
    const auto added = writer_->begin_run(running.comparison_id, 3, "adamw_torch_fused", "{}", "cpu");
    model.setLiveProgress(added, 3, 120);
    model.reload(*reader_);

    QCOMPARE(resets.count(), 0);
    QCOMPARE(inserted.count(), 1);
    const QModelIndex second = model.index(1, 0);
    QCOMPARE(model.rowCount(second), 4);
    QCOMPARE(model.index(2, RunsModel::OutcomeColumn, second).data().toString(), QStringLiteral("completed"));
    QCOMPARE(model.index(3, RunsModel::OutcomeColumn, second).data().toString(),
             QStringLiteral("running (3/120)"));
    model.setLiveProgress(added, 7, 120);
    QCOMPARE(model.index(3, RunsModel::OutcomeColumn, second).data().toString(),
             QStringLiteral("running (7/120)"));
    // Once the store says the run ended, the live step count goes.
    RunInfo ended = writer_->run(added);
    ended.outcome = Outcome::cancelled;
    writer_->finish_run(ended);
    model.reload(*reader_);
    QCOMPARE(model.index(3, RunsModel::OutcomeColumn, second).data().toString(), QStringLiteral("cancelled"));
    // Check marks survive; the new run joins its checked siblings.
    QCOMPARE(model.index(0, 0, second).data(Qt::CheckStateRole).value<Qt::CheckState>(), Qt::Unchecked);
    QCOMPARE(model.index(3, 0, second).data(Qt::CheckStateRole).value<Qt::CheckState>(), Qt::Checked);
  }

  void newComparisonTakesFocus() {
    RunsModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.reload(*reader_);
    QSignalSpy changed(&model, &RunsModel::checkedRunsChanged);
    const auto third = test::writeComparison(*writer_, "third", {{"adamw_torch", 10}, {"adamw_8bit", 10}});
    model.reload(*reader_);
    QCOMPARE(model.rowCount(), 3);
    QCOMPARE(changed.count(), 1);
    const auto checked = model.checkedRuns();
    QCOMPARE(checked.size(), std::size_t{2});
    QCOMPARE(checked[0].id, third[0]);
    QCOMPARE(checked[1].id, third[1]);
  }

  void clearEmptiesTheModel() {
    RunsModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.reload(*reader_);
    model.clear();
    QCOMPARE(model.rowCount(), 0);
    QVERIFY(model.checkedRuns().empty());
  }

 private:
  QTemporaryDir dir_;
  std::string path_;
  std::unique_ptr<Store> writer_;
  std::unique_ptr<Store> reader_;
  std::vector<std::int64_t> first_;
  std::vector<std::int64_t> second_;
};

QTEST_MAIN(RunsModelTest)
#include "tst_runs_model.moc"
