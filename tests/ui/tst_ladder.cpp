// The fit ladder in the GUI: started from the window like a comparison (File > New fit ladder),
// recorded on the CPU with the tiny model; its chart draws one stacked bar per rung with the
// budget line and the verdicts, the step times beside it; it exports (PNG, SVG, PDF, CSV) and the
// report leads with it.
#include <QDir>
#include <QFile>
#include <QImage>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTest>

#include <qcustomplot.h>

#include "charts/chart_export.h"
#include "data/run_data.h"
#include "main_window.h"
#include "new_ladder_dialog.h"
#include "store/ladder_summary.h"
#include "store/store.h"
#include "tabs/ladder_tab.h"

using namespace optiscope;
using optiscope::ui::MainWindow;

namespace {

LadderSpec tinyLadder(std::uint64_t budget) {
  ui::NewLadderDialog dialog(QString{});
  dialog.setFields(QStringLiteral("tiny"), static_cast<double>(budget) / (1024.0 * 1024.0 * 1024.0), 3, 2, 64,
                   QStringLiteral("fp32"), QStringLiteral("cpu"));
  LadderSpec ladder = dialog.ladder();
  ladder.budget_bytes = budget;  // the spin box rounds to 0.01 GiB; the tiny model needs MiB
  for (auto& r : ladder.rungs) r.spec.device_budget_bytes = budget;
  return ladder;
}

int barsOf(QCustomPlot& plot) {
  int n = 0;
  for (int i = 0; i < plot.plottableCount(); ++i) n += qobject_cast<QCPBars*>(plot.plottable(i)) ? 1 : 0;
  return n;
}

}  // namespace

class LadderTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    QVERIFY(dir_.isValid());
  }

  void dialogBuildsTheStandardLadder() {
    ui::NewLadderDialog dialog(dir_.filePath(QStringLiteral("x.db")));
    const LadderSpec ladder = dialog.ladder();
    QCOMPARE(ladder.rungs.size(), std::size_t{6});
    QCOMPARE(ladder.rungs.front().spec.model, std::string("llama-3.1-8b"));
    QCOMPARE(ladder.budget_bytes, std::uint64_t{24} << 30);
    QCOMPARE(ladder.rungs.back().spec.per_device_train_batch_size, 2);
    QCOMPARE(dialog.storePath(), dir_.filePath(QStringLiteral("x.db")));
  }

  void recordsDrawsAndExportsALadder() {
    // The budget sits between what the first and the last rung need (measured once unbudgeted).
    const QString freePath = dir_.filePath(QStringLiteral("free.db"));
    run_ladder(tinyLadder(0), freePath.toStdString());
    std::int64_t first = 0, last = 0;
    {
      const Store store = Store::open(freePath.toStdString(), Store::Mode::read_only);
      const auto ladders = summarize_ladders(store);
      QCOMPARE(ladders.size(), std::size_t{1});
      first = ladders[0].rungs.front().peak_demand;
      last = ladders[0].rungs.back().peak_demand;
    }
    QVERIFY(last < first);
    const QString path = dir_.filePath(QStringLiteral("ladder.db"));
    MainWindow window;
    window.setInteractive(false);
    window.resize(1280, 800);
    QSignalSpy finished(&window, &MainWindow::comparisonsFinished);
    window.startLadder(tinyLadder(static_cast<std::uint64_t>((first + last) / 2)), path);
    QVERIFY(finished.wait(300'000));
    QCOMPARE(window.tabs().currentWidget(), static_cast<QWidget*>(&window.ladderTab()));
    QCOMPARE(window.shownRuns().size(), std::size_t{6});
    for (const auto& r : window.shownRuns()) QVERIFY(!r.rung.isEmpty());
    QCOMPARE(window.shownRuns()[4].look.label, QStringLiteral("+ optimizer in backward"));

    ui::LadderTab& tab = window.ladderTab();
    QVERIFY(tab.hasRungs());
    QVERIFY(barsOf(tab.memoryPlot()) >= 3);  // parameters, gradients, optimizer state, ...
    QVERIFY(barsOf(tab.timePlot()) >= 1);
    bool budgetLine = false;
    for (int i = 0; i < tab.memoryPlot().graphCount(); ++i)
      budgetLine |= tab.memoryPlot().graph(i)->name().startsWith(QStringLiteral("budget "));
    QVERIFY(budgetLine);
    QStringList labels;
    for (int i = 0; i < tab.memoryPlot().itemCount(); ++i)
      if (auto* t = qobject_cast<QCPItemText*>(tab.memoryPlot().item(i))) labels << t->text();
    QVERIFY2(labels.join(QLatin1Char('|')).contains(QStringLiteral("fits")), qPrintable(labels.join('|')));

    const QStringList csv = tab.dataCsv().trimmed().split(QLatin1Char('\n'));
    QCOMPARE(csv.size(), 7);
    QVERIFY(csv[6].startsWith(QStringLiteral("\"+ chunked loss\",paged_adamw_8bit,fits,")));
    QVERIFY(!csv[1].contains(QStringLiteral(",fits,")));

    const QString charts = dir_.filePath(QStringLiteral("charts"));
    QCOMPARE(window.exportAllCharts(charts), QStringList());
    for (const char* f : {"ladder-memory.png", "ladder-memory.svg", "ladder-memory.pdf",
                          "ladder-step-time.png", "report.png", "report.pdf"})
      QVERIFY2(QFileInfo(QDir(charts).filePath(QLatin1String(f))).size() > 5000, f);
    QImage png;
    QVERIFY(png.load(QDir(charts).filePath(QStringLiteral("ladder-memory.png"))));
    QCOMPARE(png.width(), 2 * 960);
    if (!qEnvironmentVariableIsEmpty("OPTISCOPE_LADDER_STORE"))
      QFile::copy(path, qEnvironmentVariable("OPTISCOPE_LADDER_STORE"));
  }

  // A ladder cut short (the device call's time ran out in its last rung) and resumed: only the
  // rungs without a result run again, and every view shows each rung's latest attempt.
  void aResumedLadderShowsEachRungOnce() {
    const QString path = dir_.filePath(QStringLiteral("resumed.db"));
    const LadderSpec ladder = tinyLadder(0);
    run_ladder(ladder, path.toStdString());
    {
      Store store = Store::open(path.toStdString(), Store::Mode::read_write);
      for (auto info : store.runs())
        if (info.ordinal >= 4) {
          info.outcome = Outcome::interrupted;
          store.finish_run(info);
        }
    }
    const auto result = run_ladder(ladder, path.toStdString(), nullptr, nullptr, /*resume=*/true);
    QCOMPARE(result.run_ids.size(), std::size_t{2});
    const Store store = Store::open(path.toStdString(), Store::Mode::read_only);
    QCOMPARE(store.comparisons().size(), std::size_t{1});
    QCOMPARE(store.runs().size(), std::size_t{8});
    const auto ladders = summarize_ladders(store);
    QCOMPARE(ladders.size(), std::size_t{1});
    QCOMPARE(ladders[0].rungs.size(), std::size_t{6});
    QCOMPARE(ladders[0].rungs.back().verdict, RungVerdict::fits);

    ui::RunDataCache cache;
    cache.setStore(&store);
    cache.setRuns(store.runs());
    int rungs = 0;
    int earlier = 0;
    for (const auto& r : cache.runs()) {
      rungs += r.rungIndex >= 0 ? 1 : 0;
      earlier += r.look.label.endsWith(QStringLiteral("(earlier attempt)")) ? 1 : 0;
    }
    QCOMPARE(rungs, 6);
    QCOMPARE(earlier, 2);
  }

  // Over budget between two samples (paged state the migrations saw on the device): the rung's
  // label and CSV give the run's own largest demand, not the samples' lower peak.
  void anOverBudgetRungNamesItsOwnDemand() {
    const QString path = dir_.filePath(QStringLiteral("over.db"));
    run_ladder(tinyLadder(0), path.toStdString());
    constexpr std::int64_t kOver = 7LL << 30;
    {
      Store store = Store::open(path.toStdString(), Store::Mode::read_write);
      auto info = store.runs().back();
      info.outcome = Outcome::over_budget;
      info.over_budget_step = 1;
      info.over_budget_bytes = kOver;
      store.finish_run(info);
    }
    const Store store = Store::open(path.toStdString(), Store::Mode::read_only);
    ui::RunDataCache cache;
    cache.setStore(&store);
    cache.setRuns(store.runs());
    cache.refresh(ui::RunDataCache::kSteps | ui::RunDataCache::kMemory);
    ui::LadderTab tab;
    tab.showRuns(cache.runs());
    QStringList labels;
    for (int i = 0; i < tab.memoryPlot().itemCount(); ++i)
      if (auto* t = qobject_cast<QCPItemText*>(tab.memoryPlot().item(i))) labels << t->text();
    QVERIFY2(labels.join(QLatin1Char('|')).contains(QStringLiteral("over budget\n7.00 GiB")),
             qPrintable(labels.join('|')));
    const QStringList csv = tab.dataCsv().trimmed().split(QLatin1Char('\n'));
    QVERIFY2(csv.last().contains(QStringLiteral(",%1,").arg(kOver)), qPrintable(csv.last()));
  }

  void ordinaryComparisonsShowNoLadder() {
    ui::LadderTab tab;
    tab.showRuns({});
    QVERIFY(!tab.hasRungs());
    QVERIFY(tab.dataCsv().isEmpty());
  }

 private:
  QTemporaryDir dir_;
};

QTEST_MAIN(LadderTest)
#include "tst_ladder.moc"
