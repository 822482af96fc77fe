// LossChart: one graph per checked run, with all its points and its variant's name in the legend;
// unchecking removes the graph; live refreshes read only the new steps.
#include <qcustomplot.h>
#include <QApplication>
#include <QMouseEvent>
#include <QStandardPaths>
#include <QTest>

#include "charts/chart_series.h"
#include "charts/loss_chart.h"
#include "runs_model.h"
#include "sample_store.h"
#include "variant_palette.h"

using namespace optiscope;
using optiscope::ui::LossChart;
using optiscope::ui::RunsModel;

namespace {

QStringList legendNames(QCustomPlot& plot) {
  QStringList names;
  for (int i = 0; i < plot.legend->itemCount(); ++i) {
    auto* item = qobject_cast<QCPPlottableLegendItem*>(plot.legend->item(i));
    if (item) names << item->plottable()->name();
  }
  return names;
}

}  // namespace

class LossChartTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

  void init() {
    QVERIFY(dir_.isValid());
    const auto path = test::storePathIn(dir_, QTest::currentTestFunction());
    writer_ = std::make_unique<Store>(Store::open(path, Store::Mode::read_write));
    runs_ = test::writeComparison(
        *writer_, "three variants",
        {{"adamw_torch", 300}, {"adamw_8bit", 250}, {"paged_adamw_8bit", 200, Outcome::oom}});
    reader_ = std::make_unique<Store>(Store::open(path, Store::Mode::read_only));
    model_ = std::make_unique<RunsModel>();
    chart_ = std::make_unique<LossChart>();
    chart_->resize(900, 560);
    chart_->setStore(reader_.get());
    // The same wiring as the main window: check marks drive the chart.
    connect(model_.get(), &RunsModel::checkedRunsChanged, chart_.get(),
            [this] { chart_->setSeries(ui::seriesForRuns(model_->checkedRuns())); });
    model_->reload(*reader_);
  }

  void cleanup() {
    chart_.reset();
    model_.reset();
    reader_.reset();
    writer_.reset();
  }

  void oneGraphPerCheckedRun() {
    QCOMPARE(chart_->graphCount(), 3);
    const int expected[] = {300, 250, 200};
    for (int i = 0; i < 3; ++i) {
      QCPGraph* g = chart_->graphOfRun(runs_[static_cast<std::size_t>(i)]);
      QVERIFY(g);
      QCOMPARE(g->dataCount(), expected[i]);
    }
    QCOMPARE(legendNames(chart_->plot()),
             (QStringList{QStringLiteral("adamw_torch"), QStringLiteral("adamw_8bit"),
                          QStringLiteral("paged_adamw_8bit")}));
    QCOMPARE(chart_->graphOfRun(runs_[1])->pen().color().rgb(),
             ui::variantColor(QStringLiteral("adamw_8bit")).rgb());
    QVERIFY(chart_->hasData());
    // Points are the stored steps.
    const auto first = chart_->graphOfRun(runs_[0])->data()->at(0);
    QCOMPARE(first->key, 1.0);
    QCOMPARE(first->value, test::sampleLoss(0, 1));
  }

  void uncheckingRemovesTheGraph() {
    model_->setRunChecked(runs_[1], false);
    QCOMPARE(chart_->graphCount(), 2);
    QCOMPARE(chart_->graphOfRun(runs_[1]), nullptr);
    QCOMPARE(legendNames(chart_->plot()),
             (QStringList{QStringLiteral("adamw_torch"), QStringLiteral("paged_adamw_8bit")}));
    model_->setRunChecked(runs_[1], true);
    QCOMPARE(chart_->graphCount(), 3);
    QCOMPARE(chart_->graphOfRun(runs_[1])->dataCount(), 250);
    // Legend order follows the runs panel, not the order of checking.
    QCOMPARE(legendNames(chart_->plot()).at(1), QStringLiteral("adamw_8bit"));

    model_->setData(model_->index(0, 0), Qt::Unchecked, Qt::CheckStateRole);
    QCOMPARE(chart_->graphCount(), 0);
    QVERIFY(!chart_->hasData());
  }

  void liveRefreshReadsOnlyNewSteps() {
    test::appendSteps(*writer_, runs_[0], 0, 301, 340);
    chart_->appendNewSteps();
    QCOMPARE(chart_->graphOfRun(runs_[0])->dataCount(), 340);
    QCOMPARE(chart_->graphOfRun(runs_[1])->dataCount(), 250);
    // Following the data: the x axis grew with it.
    QVERIFY(chart_->plot().xAxis->range().upper >= 340.0);
  }

  void zoomStopsFollowingUntilReset() {
    chart_->plot().xAxis->setRange(10, 20);  // what a wheel zoom does
    test::appendSteps(*writer_, runs_[0], 0, 301, 400);
    chart_->appendNewSteps();
    QCOMPARE(chart_->plot().xAxis->range().upper, 20.0);
    chart_->resetView();
    QVERIFY(chart_->plot().xAxis->range().upper >= 400.0);
    QCOMPARE(chart_->plot().xAxis->range().lower, 0.0);
  }

  void labelsNameTheComparisonOnlyWhenNeeded() {
    const auto again = test::writeComparison(*writer_, "again", {{"adamw_torch", 20}});
    std::vector<RunInfo> runs = {reader_->run(runs_[0]), reader_->run(runs_[1]), reader_->run(again[0])};
    const auto series = ui::seriesForRuns(runs);
    QCOMPARE(series[1].label, QStringLiteral("adamw_8bit"));
    QVERIFY(series[0].label.startsWith(QStringLiteral("adamw_torch (comparison ")));
    QVERIFY(series[0].label != series[2].label);
    QCOMPARE(series[0].style, Qt::SolidLine);
    QCOMPARE(series[2].style, Qt::DashLine);
    QCOMPARE(series[0].color, series[2].color);
  }

  void hoverNamesVariantStepAndLoss() {
    chart_->show();
    QVERIFY(QTest::qWaitForWindowExposed(chart_.get()));
    chart_->plot().replot();
    QCPGraph* g = chart_->graphOfRun(runs_[1]);
    const QPointF point = g->coordsToPixels(100, g->data()->findBegin(100)->value);
    QMouseEvent move(QEvent::MouseMove, point, chart_->plot().mapToGlobal(point), Qt::NoButton, Qt::NoButton,
                     Qt::NoModifier);
    QApplication::sendEvent(&chart_->plot(), &move);

    QString shown;
    for (int i = 0; i < chart_->plot().itemCount(); ++i) {
      auto* text = qobject_cast<QCPItemText*>(chart_->plot().item(i));
      if (text && text->visible()) shown = text->text();
    }
    QVERIFY2(shown.startsWith(QStringLiteral("adamw_8bit\nstep 100\nloss ")), qPrintable(shown));
  }

  void storeGoneEmptiesTheChart() {
    chart_->setStore(nullptr);
    QCOMPARE(chart_->graphCount(), 0);
  }

 private:
  QTemporaryDir dir_;
  std::unique_ptr<Store> writer_;
  std::unique_ptr<Store> reader_;
  std::unique_ptr<RunsModel> model_;
  std::unique_ptr<LossChart> chart_;
  std::vector<std::int64_t> runs_;
};

QTEST_MAIN(LossChartTest)
#include "tst_loss_chart.moc"
