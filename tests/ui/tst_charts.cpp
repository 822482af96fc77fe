// Chart contents of every tab over a store shaped like the article's GPU comparison: one curve per
// run, stacked memory categories summing to the device total, one peak bar per variant with the
// budget and the OOM marked, paging charts or the capture notes, phase bars, the summary model,
// the calculator, and the exports (each chart, every chart, the report).
#include <QAbstractItemModelTester>
#include <QApplication>
#include <QClipboard>
#include <QFile>
#include <QImage>
#include <QStandardPaths>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>

#include <qcustomplot.h>

#include "charts/level_of_detail.h"
#include "charts/memory_categories.h"
#include "data/run_data.h"
#include "data/summary_model.h"
#include "main_window.h"
#include "rich_store.h"
#include "runs_model.h"
#include "spec/smollm2_comparison.h"
#include "tabs/calculator_tab.h"
#include "tabs/learning_tab.h"
#include "tabs/memory_tab.h"
#include "tabs/paging_tab.h"
#include "tabs/summary_tab.h"
#include "tabs/time_tab.h"

using namespace optiscope;
using optiscope::ui::RunData;
using optiscope::ui::RunDataCache;

namespace {

template <typename T>
std::vector<T*> plottablesOf(QCustomPlot& plot) {
  std::vector<T*> out;
  for (int i = 0; i < plot.plottableCount(); ++i)
    if (auto* p = qobject_cast<T*>(plot.plottable(i))) out.push_back(p);
  return out;
}

QCPBars* barsNamed(QCustomPlot& plot, const QString& name) {
  for (auto* b : plottablesOf<QCPBars>(plot))
    if (b->name() == name) return b;
  return nullptr;
}

double barValueAt(QCPBars& bars, double key) {
  const auto it = bars.data()->findBegin(key, false);
  return it != bars.data()->constEnd() && it->key == key ? it->value : 0.0;
}

QByteArray head(const QString& path, int n) {
  QFile f(path);
  return f.open(QIODevice::ReadOnly) ? f.read(n) : QByteArray();
}

}  // namespace

class ChartsTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    QVERIFY(dir_.isValid());
    path_ = test::storePathIn(dir_, "rich.db");
    {
      Store writer = Store::open(path_, Store::Mode::read_write);
      ids_ = test::writeRichComparison(writer);
    }
    store_ = std::make_unique<Store>(Store::open(path_, Store::Mode::read_only));
    std::vector<RunInfo> runs;
    for (auto id : ids_) runs.push_back(store_->run(id));
    cache_.setStore(store_.get());
    cache_.setRuns(runs);
    QVERIFY(cache_.refresh(RunDataCache::kSteps | RunDataCache::kMemory | RunDataCache::kPaging));
  }

  void learningCurves() {
    ui::LearningTab tab;
    tab.resize(1000, 700);
    tab.setSmoothing(0.6);
    tab.showRuns(cache_.runs());
    for (std::size_t i = 0; i < ids_.size(); ++i) {
      QCPGraph* smooth = tab.graphOfRun(ids_[i]);
      QCPGraph* raw = tab.rawGraphOfRun(ids_[i]);
      QVERIFY(smooth && raw && smooth != raw);
      QCOMPARE(smooth->dataCount(), static_cast<int>(cache_.runs()[i].steps.size()));
      QVERIFY(raw->pen().color().lightness() > smooth->pen().color().lightness());  // the raw curve is faint
      QCOMPARE(smooth->name(), QString::fromStdString(test::richRuns()[i].optim));
    }
    // Evaluation loss every 50 steps.
    QCOMPARE(tab.evalGraphOfRun(ids_[0])->dataCount(), 8);
    // No smoothing: one curve per run, the raw one.
    tab.setSmoothing(0.0);
    QCOMPARE(tab.graphOfRun(ids_[0]), tab.rawGraphOfRun(ids_[0]));
    // Tokens on x: the last point is at all the tokens seen.
    tab.setXAxis(ui::LearningTab::XAxis::tokens);
    QCOMPARE((tab.graphOfRun(ids_[0])->data()->constEnd() - 1)->key, 400.0 * 4 * 512);
    // The difference of the first two runs.
    QCOMPARE(tab.diffPlot().graphCount(), 1);
    QCOMPARE(tab.diffPlot().graph(0)->dataCount(), 400);
    // Legend toggles hide the run's curves.
    QCPAbstractLegendItem* item = tab.lossPlot().legend->item(0);
    emit tab.lossPlot().legendClick(tab.lossPlot().legend, item, nullptr);
    QVERIFY(!tab.graphOfRun(ids_[0])->visible());
  }

  // Level of detail: a long curve becomes a few points per pixel column, and keeps its spike.
  void decimationKeepsExtremes() {
    QVector<double> k, v, ok, ov;
    for (int i = 0; i < 100000; ++i) {
      k << i;
      v << (i == 51234 ? 50.0 : std::sin(i * 0.01));
    }
    ui::decimateMinMax(k, v, 0, 99999, 800, ok, ov);
    QVERIFY(ok.size() <= 4 * 800 + 4);
    QCOMPARE(*std::max_element(ov.begin(), ov.end()), 50.0);
    QVERIFY(std::is_sorted(ok.begin(), ok.end()));
    QCOMPARE(ok.front(), 0.0);
    QCOMPARE(ok.back(), 99999.0);
  }

  void sharedXRange() {
    ui::LearningTab tab;
    tab.showRuns(cache_.runs());
    tab.lossPlot().xAxis->setRange(100, 200);
    QCOMPARE(tab.diffPlot().xAxis->range().lower, 100.0);
    QCOMPARE(tab.diffPlot().xAxis->range().upper, 200.0);
  }

  void memoryTimelineStacksToTheDeviceTotal() {
    ui::MemoryTab tab;
    tab.showRuns(cache_.runs());
    tab.setTimelineRun(ids_[2]);  // paged_adamw_32bit: every category in use
    QCustomPlot& plot = tab.timelinePlot();
    QCOMPARE(plot.graphCount(), 6);  // parameters, gradients, paged resident, activations, cache, other
    const RunData& run = cache_.runs()[2];
    QCPGraph* top = plot.graph(plot.graphCount() - 1);
    for (int i : {0, 99, 399}) {
      const MemorySample& s = run.memory[static_cast<std::size_t>(i)];
      QCOMPARE(top->data()->at(i)->value, static_cast<double>(s.device_total()));
    }
    // Each layer fills down to the one below it.
    for (int g = 1; g < plot.graphCount(); ++g)
      QCOMPARE(plot.graph(g)->channelFillGraph(), plot.graph(g - 1));
    // Paged state on the host is drawn apart, never in the device stack.
    QCOMPARE(tab.hostPlot().graphCount(), 1);
    QCOMPARE(tab.hostPlot().graph(0)->name(), QStringLiteral("paged state, on host"));
    // The budget line is drawn.
    bool budget = false;
    for (int i = 0; i < plot.itemCount(); ++i)
      if (auto* line = qobject_cast<QCPItemStraightLine*>(plot.item(i)))
        budget |= line->point1->coords().y() == static_cast<double>(24 * test::kGiB);
    QVERIFY(budget);
  }

  void memoryPeaksOneBarPerVariant() {
    ui::MemoryTab tab;
    tab.showRuns(cache_.runs());
    QCustomPlot& plot = tab.peaksPlot();
    const int n = static_cast<int>(ids_.size());
    for (int i = 0; i < n; ++i) {
      const MemorySample* peak = cache_.runs()[static_cast<std::size_t>(i)].peak();
      QVERIFY(peak);
      double device = 0;
      double host = 0;
      for (auto* bars : plottablesOf<QCPBars>(plot)) {
        if (bars->name() == QStringLiteral("needed at OOM")) continue;
        const double v = barValueAt(*bars, i + 1);
        (v >= 0 ? device : host) += v;
      }
      QCOMPARE(device, static_cast<double>(peak->device_total()));
      QCOMPARE(-host, static_cast<double>(ui::hostBytes(*peak)));
    }
    QVERIFY(barsNamed(plot, QStringLiteral("paged state, resident")));
    QVERIFY(barsNamed(plot, QStringLiteral("paged state, on host")));
    // The OOM run: a dashed outline at the memory it needed, and its mark.
    QCPBars* oom = barsNamed(plot, QStringLiteral("needed at OOM"));
    QVERIFY(oom);
    QCOMPARE(oom->dataCount(), 1);
    QCOMPARE(oom->data()->at(0)->key, 5.0);
    // One budget for all runs: one line across the bars at 24 GiB.
    int budgets = 0;
    bool oomText = false;
    for (int i = 0; i < plot.itemCount(); ++i) {
      if (auto* line = qobject_cast<QCPItemStraightLine*>(plot.item(i)))
        budgets += line->point1->coords().y() == static_cast<double>(24 * test::kGiB);
      if (auto* t = qobject_cast<QCPItemText*>(plot.item(i)))
        oomText |= t->text().startsWith(QStringLiteral("OOM at step 58"));
    }
    QCOMPARE(budgets, 1);
    QVERIFY(oomText);
  }

  void pagingChartsOrNotes() {
    ui::PagingTab tab;
    tab.showRuns(cache_.runs());
    QVERIFY(!tab.showsNotes());
    QCOMPARE(tab.perStepPlot().graphCount(), 4);
    QCOMPARE(tab.cumulativePlot().graphCount(), 4);  // two paged runs, two directions
    QCOMPARE(tab.faultsPlot().graphCount(), 3);
    // Completeness is drawn: recorded / known on every seventh step is below one.
    QCPGraph* completeness = tab.faultsPlot().graph(2);
    QVERIFY(completeness->data()->at(6)->value < 0.9);
    QVERIFY(!plottablesOf<QCPBars>(tab.causesPlot()).empty());

    // Only runs that could not page: the notes say why, instead of empty charts.
    std::vector<RunData> cpuOnly = {cache_.runs()[0], cache_.runs()[1]};
    tab.showRuns(cpuOnly);
    QVERIFY(tab.showsNotes());
    QVERIFY(tab.noteText().contains(QStringLiteral("not a paged variant")));
  }

  void timeByPhase() {
    ui::TimeTab tab;
    tab.showRuns(cache_.runs());
    QCOMPARE(tab.stepTimePlot().graphCount(), static_cast<int>(ids_.size()));
    const auto phases = plottablesOf<QCPBars>(tab.phasePlot());
    QCOMPARE(phases.size(), std::size_t{4});
    for (auto* b : phases) QCOMPARE(b->dataCount(), static_cast<int>(ids_.size()));
    // The phases stack to the median step time.
    double sum = 0;
    for (auto* b : phases) sum += barValueAt(*b, 1);
    QVERIFY2(std::abs(sum - 76.0) < 1.5, qPrintable(QString::number(sum)));  // 21 + 42 + 11 + 2 ms
    QCOMPARE(plottablesOf<QCPBars>(tab.throughputPlot()).size(), ids_.size());
  }

  void summaryModel() {
    ui::SummaryModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setRuns(cache_.runs());
    QCOMPARE(model.rowCount(), static_cast<int>(ids_.size()));
    QCOMPARE(model.index(4, ui::SummaryModel::OutcomeCol).data().toString(),
             QStringLiteral("oom at step 58"));
    QCOMPARE(model.index(2, ui::SummaryModel::PagedHost).data(ui::SummaryModel::ValueRole).toDouble(),
             static_cast<double>(cache_.runs()[2].peak()->optimizer_paged_host));
    const QStringList lines = model.toTsv().split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    QCOMPARE(lines.size(), 1 + static_cast<int>(ids_.size()));
    QVERIFY(lines[0].startsWith(QStringLiteral("variant\t")));
    ui::SummaryTab tab;
    tab.showRuns(cache_.runs());
    tab.copy();
    QCOMPARE(QApplication::clipboard()->text(), tab.model().toTsv());
  }

  void shardedRunShowsEveryRanksMemory() {
    // A run over two ranks with ZeRO 1: each rank holds its own half of the optimizer state.
    const std::string path = test::storePathIn(dir_, "ranks.db");
    std::int64_t id = 0;
    {
      Store writer = Store::open(path, Store::Mode::read_write);
      id = writer.begin_run(writer.add_comparison("ranks", "{}"), 0, "adamw_8bit", "{}", "cpu");
      writer.set_run_ranks(id, 2, 1);
      for (std::int64_t step = 1; step <= 3; ++step) {
        StepBundle b;
        b.step = StepRecord{step, 3.0, 1e-3, 30.0, 512, 0};
        b.step->comm_ms = 7.0;
        for (int rank = 0; rank < 2; ++rank) {
          MemorySample m;
          m.step = step;
          m.rank = rank;
          m.phase = Phase::optimizer;
          m.point = SamplePoint::peak;
          m.parameters = 1000 * test::kMiB;
          m.optimizer_device = (rank == 0 ? 250 : 260) * test::kMiB;
          b.memory.push_back(m);
        }
        writer.append_bundle(id, b);
      }
    }
    const Store reader = Store::open(path, Store::Mode::read_only);
    RunDataCache cache;
    cache.setStore(&reader);
    cache.setRuns({reader.run(id)});
    QVERIFY(cache.refresh(RunDataCache::kSteps | RunDataCache::kMemory));
    ui::MemoryTab tab;
    tab.showRuns(cache.runs());
    QCustomPlot& peaks = tab.peaksPlot();
    QCPBars* state = nullptr;
    for (auto* bars : plottablesOf<QCPBars>(peaks))
      if (bars->name().contains(QStringLiteral("optimizer"))) state = bars;
    QVERIFY(state);
    QCOMPARE(barValueAt(*state, 1), 250.0 * test::kMiB);
    QCOMPARE(barValueAt(*state, 2), 260.0 * test::kMiB);  // rank 1's own shard, its own bar
    QVERIFY(peaks.xAxis->ticker());
    tab.setTimelineRun(id, 1);
    QCustomPlot& timeline = tab.timelinePlot();
    double top = 0;
    for (int g = 0; g < timeline.graphCount(); ++g)
      if (timeline.graph(g)->dataCount() > 0) top = std::max(top, timeline.graph(g)->data()->at(0)->value);
    QCOMPARE(top, 1260.0 * test::kMiB);  // rank 1's stack: parameters + its shard
    QVERIFY(cache.runs()[0].look.label.contains(QStringLiteral("2 ranks, ZeRO 1")));
    // The time tab gives the collectives their own phase.
    ui::TimeTab time;
    time.showRuns(cache.runs());
    bool comm = false;
    for (int i = 0; i < time.phasePlot().plottableCount(); ++i)
      comm |= time.phasePlot().plottable(i)->name().contains(QStringLiteral("communication"));
    QVERIFY(comm);
  }

  void calculatorPerRank() {
    ui::CalculatorTab tab;
    tab.setInputs(QStringLiteral("llama-3.1-8b"), QStringLiteral("bf16"), QStringLiteral("adamw_32bit"), 1,
                  512);
    const QString whole = tab.table().item(2, 2)->text();
    tab.setDataParallel(4, 1);
    QVERIFY2(tab.table().item(2, 1)->text().contains(QStringLiteral("/ 4 ranks")),
             qPrintable(tab.table().item(2, 1)->text()));
    QVERIFY(tab.table().item(2, 2)->text() != whole);
    QVERIFY(tab.fitsText().contains(QStringLiteral("each rank")));
    tab.setDataParallel(1, 0);
    QCOMPARE(tab.table().item(2, 2)->text(), whole);
  }

  void calculator() {
    ui::CalculatorTab tab;
    tab.setInputs(QStringLiteral("llama-3.1-8b"), QStringLiteral("bf16"), QStringLiteral("adamw_32bit"), 1,
                  512);
    QVERIFY(tab.table().rowCount() >= 6);
    QCOMPARE(tab.table().item(2, 0)->text(), QStringLiteral("optimizer state"));
    QVERIFY(tab.table().item(2, 1)->text().contains(QStringLiteral("8.03 G params")));
    QVERIFY(tab.fitsText().contains(QStringLiteral("does not fit")));
    tab.setInputs(QStringLiteral("llama-3.1-8b"), QStringLiteral("bf16"), QStringLiteral("paged_adamw_8bit"),
                  1, 512);
    QVERIFY(tab.fitsText().contains(QStringLiteral("paging")));
    // With a run: measured next to predicted.
    tab.showRuns(cache_.runs());
    QVERIFY(tab.table().item(0, 4) != nullptr);
    // A .gguf file: refused with the reader's message when it is not one; read like a preset when
    // it is (the SmolLM2 file, once installer/setup.sh has fetched it).
    const QString bad = dir_.filePath(QStringLiteral("not-a-model.gguf"));
    QFile f(bad);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("not a model");
    f.close();
    tab.setGgufFile(bad);
    QVERIFY2(tab.fitsText().contains(QStringLiteral("not a GGUF file")), qPrintable(tab.fitsText()));
    if (const auto real = find_in_deps("models", kSmollm2ModelFile)) {
      tab.setInputs(QString::fromStdString(*real), QStringLiteral("bf16"), QStringLiteral("adamw_8bit"), 1,
                    512);
      QVERIFY2(tab.table().item(2, 1)->text().contains(QStringLiteral("135 M params")),
               qPrintable(tab.table().item(2, 1)->text()));
      QVERIFY(tab.fitsText().contains(QStringLiteral("fits")));
    } else {
      qWarning("SKIPPED: the SmolLM2 GGUF part of the calculator test (no .deps/models; installer/setup.sh)");
    }
  }

  void exportEveryChartAndTheReport() {
    ui::MainWindow window;
    window.setInteractive(false);
    QVERIFY(window.openStore(QString::fromStdString(path_)));
    const QString out = dir_.filePath(QStringLiteral("charts"));
    const QStringList problems = window.exportAllCharts(out);
    QVERIFY2(problems.isEmpty(), qPrintable(problems.join(QLatin1Char('\n'))));
    for (const char* name :
         {"learning-curves", "loss-difference", "memory-timeline", "memory-peaks", "paging-per-step",
          "paging-cumulative", "step-time", "phase-time", "throughput"}) {
      const QString base = QDir(out).filePath(QString::fromLatin1(name));
      QImage png;
      QVERIFY2(png.load(base + QStringLiteral(".png")), name);
      QCOMPARE(png.width(), 2 * 960);
      QVERIFY(head(base + QStringLiteral(".svg"), 200).contains("<svg") ||
              head(base + QStringLiteral(".svg"), 400).contains("<svg"));
      QVERIFY(head(base + QStringLiteral(".pdf"), 4).startsWith("%PDF"));
    }
    QImage report;
    QVERIFY(report.load(QDir(out).filePath(QStringLiteral("report.png"))));
    QVERIFY(report.width() > 1000);
    QVERIFY(head(QDir(out).filePath(QStringLiteral("report.pdf")), 4).startsWith("%PDF"));
  }

 private:
  QTemporaryDir dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
  ui::RunDataCache cache_;
  std::vector<std::int64_t> ids_;
};

QTEST_MAIN(ChartsTest)
#include "tst_charts.moc"
