// What a newcomer meets first, where a test can see it: category labels under the bar charts that
// do not overlap however long the variant names, warm-up steps kept off the step-time scale, the
// Paging tab's sentence when nothing was paged, the Memory tab's host note inside its plot, one
// parameter count in the calculator, losses labelled by what they are, the first-start offer of
// the sample store, and charts that follow a dark palette.
#include <QApplication>
#include <QDoubleSpinBox>
#include <QFontMetrics>
#include <QMouseEvent>
#include <QPushButton>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include <qcustomplot.h>

#include "charts/category_labels.h"
#include "charts/paper_style.h"
#include "charts/warm_up.h"
#include "dark_palette.h"
#include "data/summary_model.h"
#include "first_start_offer.h"
#include "main_window.h"
#include "new_comparison_dialog.h"
#include "store/run_summary.h"
#include "store/store.h"
#include "store_files.h"
#include "tabs/calculator_tab.h"
#include "tabs/chart_tab.h"
#include "tabs/memory_tab.h"
#include "tabs/paging_tab.h"
#include "tabs/time_tab.h"

using namespace optiscope;
using optiscope::ui::RunData;

namespace {

// A run as the tabs get it, without a store: steps (the first ones slow when asked), a peak memory
// sample, and paging rows that moved nothing.
RunData makeRun(std::int64_t id, const QString& optim, int steps, int slowFirst = 0) {
  RunData r;
  r.info.id = id;
  r.info.comparison_id = 1;
  r.info.optim = optim.toStdString();
  r.info.device = "NVIDIA H100 80GB HBM3 (79 GiB)";
  r.info.outcome = Outcome::completed;
  r.look.run_id = id;
  r.look.optim = optim;
  r.look.label = optim;
  r.look.color = QColor(0x00, 0x72, 0xB2);
  r.budget_bytes = 40LL << 30;
  for (int s = 1; s <= steps; ++s) {
    StepRecord st;
    st.step = s;
    st.loss = 2.0 + 1.0 / s;
    st.step_ms = s <= slowFirst ? 1500.0 : 60.0 + (s % 3);
    st.tokens = 2048;
    st.forward_ms = 20;
    st.backward_ms = 30;
    st.optimizer_ms = 8;
    r.steps.push_back(st);
    PagingStep p;
    p.step = s;
    r.paging.push_back(p);
  }
  MemorySample m;
  m.step = steps;
  m.phase = Phase::optimizer;
  m.point = SamplePoint::peak;
  m.parameters = 2LL << 30;
  m.gradients = 2LL << 30;
  m.optimizer_device = 8LL << 30;
  m.activations = 3LL << 30;
  r.memory.push_back(m);
  r.memory_loaded = true;
  r.paging_loaded = true;
  r.capture = CaptureInfo{true, true, false, "", 0};
  return r;
}

std::vector<RunData> longNamedRuns() {
  return {makeRun(1, QStringLiteral("adamw_torch"), 40, 1),
          makeRun(2, QStringLiteral("paged_adamw_32bit"), 40, 1),
          makeRun(3, QStringLiteral("adamw_8bit"), 40), makeRun(4, QStringLiteral("paged_adamw_8bit"), 40),
          makeRun(5, QStringLiteral("adamw_torch_fused"), 40)};
}

// Shows a tab `width` pixels wide with the runs; false when its window never appeared.
bool showAt(ui::ChartTab& tab, int width, const std::vector<RunData>& runs) {
  tab.resize(width, 700);
  tab.show();
  tab.showRuns(runs);
  return QTest::qWaitForWindowExposed(&tab);
}

// Every pair of neighbouring tick labels on the x axis, as drawn: their rectangles must not touch.
QString overlappingLabels(QCustomPlot& plot) {
  plot.replot();
  auto ticker = plot.xAxis->ticker().dynamicCast<QCPAxisTickerText>();
  if (!ticker) return QStringLiteral("no text ticker");
  const QFontMetrics fm(plot.xAxis->tickLabelFont());
  double previousRight = -1e9;
  QString previous;
  for (auto it = ticker->ticks().constBegin(); it != ticker->ticks().constEnd(); ++it) {
    const double centre = plot.xAxis->coordToPixel(it.key());
    const double width = fm.boundingRect(QRect(0, 0, 10000, 10000), Qt::AlignHCenter, it.value()).width();
    if (centre - width / 2 < previousRight)
      return QStringLiteral("'%1' overlaps '%2'").arg(previous, it.value());
    previousRight = centre + width / 2;
    previous = it.value();
  }
  return {};
}

}  // namespace

class NewcomerTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

  void fitLabelWrapsAfterUnderscoresAndElidesTheRest() {
    const QFont font = QApplication::font();
    const QFontMetrics fm(font);
    const int width = fm.horizontalAdvance(QStringLiteral("paged_adamw_")) + 2;
    const QString fitted = ui::fitLabel(QStringLiteral("paged_adamw_32bit"), font, width);
    QCOMPARE(fitted, QStringLiteral("paged_adamw_\n32bit"));
    const QString tiny = ui::fitLabel(QStringLiteral("averyveryverylongname"), font, 40);
    QVERIFY(tiny.contains(QChar(0x2026)));  // elided, and the whole name stays in the tool tip
    for (const QString& line :
         ui::fitLabel(QStringLiteral("adamw_torch_fused\ncompleted"), font, 50).split('\n'))
      QVERIFY2(fm.horizontalAdvance(line) <= 50, qPrintable(line));
  }

  void barChartLabelsDoNotOverlap() {
    for (const int width : {1400, 900, 620}) {
      ui::TimeTab time;
      QVERIFY(showAt(time, width, longNamedRuns()));
      QVERIFY2(overlappingLabels(time.phasePlot()).isEmpty(),
               qPrintable(overlappingLabels(time.phasePlot())));
      QVERIFY2(overlappingLabels(time.throughputPlot()).isEmpty(),
               qPrintable(overlappingLabels(time.throughputPlot())));
      QCOMPARE(ui::categoryLabel(time.phasePlot(), 2), QStringLiteral("paged_adamw_32bit\ncompleted"));
      ui::MemoryTab memory;
      QVERIFY(showAt(memory, width, longNamedRuns()));
      QVERIFY2(overlappingLabels(memory.peaksPlot()).isEmpty(),
               qPrintable(overlappingLabels(memory.peaksPlot())));
    }
  }

  // The report and --export-charts draw plots that were never shown, at a size of their own.
  void exportsFitTheLabelsToTheExportedSize() {
    ui::MemoryTab tab;
    tab.showRuns(longNamedRuns());
    QCustomPlot& plot = tab.peaksPlot();
    plot.resize(200, 150);  // as small as a plot in a window that was never shown
    (void)plot.toPixmap(1400, 600);
    const auto ticks = plot.xAxis->ticker().dynamicCast<QCPAxisTickerText>()->ticks();
    QCOMPARE(ticks.value(1), QStringLiteral("adamw_torch\ncompleted"));
    QCOMPARE(ticks.value(2), QStringLiteral("paged_adamw_32bit\ncompleted"));
  }

  void warmUpStepsAreMarkedAndOffTheScale() {
    const std::vector<RunData> runs = longNamedRuns();
    QCOMPARE(ui::warmUpSteps(runs[0].steps), std::size_t{1});
    QCOMPARE(ui::warmUpSteps(runs[2].steps), std::size_t{0});
    ui::TimeTab tab;
    tab.resize(1000, 700);
    tab.showRuns(runs);
    const QCPRange y = tab.stepTimePlot().yAxis->range();
    QVERIFY2(y.upper < 200.0, qPrintable(QString::number(y.upper)));  // scaled by the 60 ms steps, not 1.5 s
    QVERIFY(y.upper > 62.0);
    QCOMPARE(tab.warmUpGraphs().size(), std::size_t{2});
    for (QCPGraph* g : tab.warmUpGraphs()) {
      QCOMPARE(g->dataCount(), 1);
      QCOMPARE(g->lineStyle(), QCPGraph::lsNone);
      QVERIFY(g->data()->at(0)->value <= y.upper);  // drawn at the top edge, inside the plot
    }
    bool noted = false;
    for (int i = 0; i < tab.stepTimePlot().itemCount(); ++i)
      if (auto* t = qobject_cast<QCPItemText*>(tab.stepTimePlot().item(i)))
        noted |= t->text().contains(QStringLiteral("adamw_torch warm-up, step 1: 1500 ms"));
    QVERIFY(noted);
    // Drawn again and hovered: the warm-up note goes, the hover read-out's own items stay.
    tab.show();
    QVERIFY(QTest::qWaitForWindowExposed(&tab));
    tab.showRuns(runs);
    QCustomPlot& plot = tab.stepTimePlot();
    const QPoint at(static_cast<int>(plot.xAxis->coordToPixel(20)),
                    static_cast<int>(plot.yAxis->coordToPixel(61)));
    QMouseEvent move(QEvent::MouseMove, at, plot.mapToGlobal(at), Qt::NoButton, Qt::NoButton, Qt::NoModifier);
    QCoreApplication::sendEvent(&plot, &move);
    int notes = 0;
    for (int i = 0; i < plot.itemCount(); ++i)
      if (auto* t = qobject_cast<QCPItemText*>(plot.item(i));
          t && t->text().contains(QStringLiteral("warm-up,")))
        ++notes;
    QCOMPARE(notes, 1);
  }

  void pagingTabSaysWhyNothingWasPaged() {
    std::vector<RunData> runs = {makeRun(1, QStringLiteral("adamw_torch"), 10),
                                 makeRun(2, QStringLiteral("paged_adamw_8bit"), 10)};
    runs[0].paging.clear();
    ui::PagingTab tab;
    tab.showRuns(runs);
    QVERIFY(tab.showsNotes());
    const QString text = tab.noteText();
    QVERIFY2(text.contains(QStringLiteral("Nothing was paged.")), qPrintable(text));
    QVERIFY2(text.contains(QStringLiteral("not a paged variant")), qPrintable(text));
    QVERIFY2(text.contains(QStringLiteral("fit within the device budget of 40.0 GiB")), qPrintable(text));
    // One step that moved bytes: the charts are back.
    runs[1].paging[3].manager_htod = 1 << 20;
    tab.showRuns(runs);
    QVERIFY(!tab.showsNotes());
  }

  void memoryHostNoteFitsItsPlot() {
    ui::MemoryTab tab;
    tab.resize(1100, 700);
    tab.show();
    tab.showRuns({makeRun(1, QStringLiteral("adamw_torch"), 10)});
    QVERIFY(QTest::qWaitForWindowExposed(&tab));
    QCustomPlot& host = tab.hostPlot();
    host.replot();
    QCPItemText* note = nullptr;
    for (int i = 0; i < host.itemCount(); ++i)
      if (auto* t = qobject_cast<QCPItemText*>(host.item(i)); t && t->visible()) note = t;
    QVERIFY(note);
    QVERIFY(note->text().startsWith(QStringLiteral("Nothing on the host")));
    const QRect text =
        QFontMetrics(note->font()).boundingRect(QRect(0, 0, 10000, 10000), Qt::AlignCenter, note->text());
    QVERIFY2(
        text.width() <= host.axisRect()->width(),
        qPrintable(QStringLiteral("%1 px of text in %2 px").arg(text.width()).arg(host.axisRect()->width())));
    QVERIFY(!note->clipToAxisRect());
  }

  void calculatorShowsOneParameterCount() {
    ui::CalculatorTab tab;
    tab.setInputs(QStringLiteral("llama-3.1-8b"), QStringLiteral("bf16"), QStringLiteral("adamw_8bit"), 1,
                  512);
    QVERIFY(tab.modelText().contains(QStringLiteral("8.03 G")));
    QVERIFY2(tab.parametersText().startsWith(QStringLiteral("8.03")), qPrintable(tab.parametersText()));
    tab.setInputs(QStringLiteral("llama-3.2-1b"), QStringLiteral("bf16"), QStringLiteral("adamw_8bit"), 1,
                  512);
    QVERIFY(tab.modelText().contains(QStringLiteral("1.24 G")));
    QVERIFY2(tab.parametersText().startsWith(QStringLiteral("1.24")), qPrintable(tab.parametersText()));
  }

  void lossesSayWhichFigureTheyAre() {
    ui::SummaryModel model;
    std::vector<RunData> runs = {makeRun(1, QStringLiteral("adamw_torch"), 30)};
    runs[0].steps.back().eval_loss = 2.5;
    model.setRuns(runs);
    QCOMPARE(model.headerData(ui::SummaryModel::LastLoss, Qt::Horizontal).toString(),
             QStringLiteral("loss, last step"));
    QCOMPARE(model.headerData(ui::SummaryModel::FinalLoss, Qt::Horizontal).toString(),
             QStringLiteral("loss, mean of last %1").arg(kFinalLossSteps));
    QCOMPARE(model.headerData(ui::SummaryModel::EvalLoss, Qt::Horizontal).toString(),
             QStringLiteral("eval loss"));
    // The same figures as the CLI's, from the same function.
    const double last = runs[0].steps.back().loss;
    QCOMPARE(model.index(0, ui::SummaryModel::LastLoss).data(ui::SummaryModel::ValueRole).toDouble(), last);
    QCOMPARE(model.index(0, ui::SummaryModel::FinalLoss).data(ui::SummaryModel::ValueRole).toDouble(),
             *final_loss_of(runs[0].steps));
    QVERIFY(*final_loss_of(runs[0].steps) != last);
    QCOMPARE(model.index(0, ui::SummaryModel::EvalLoss).data(ui::SummaryModel::ValueRole).toDouble(), 2.5);
  }

  // The loss is a setting of the New comparison dialog: plain by default, the fused linear +
  // cross-entropy in N slices when asked, and a spec's choice survives a round trip through it.
  void newComparisonOffersTheFusedLoss() {
    ui::NewComparisonDialog dialog(QStringLiteral("/tmp/x.db"));
    ComparisonSpec c = default_comparison();
    dialog.setSpec(c);
    QCOMPARE(dialog.spec().base.loss_chunks, 0);
    QSpinBox* loss = nullptr;
    for (QSpinBox* box : dialog.findChildren<QSpinBox*>())
      if (box->specialValueText() == QStringLiteral("plain cross-entropy")) loss = box;
    QVERIFY2(loss, "no loss setting in the dialog");
    QCOMPARE(loss->text(), QStringLiteral("plain cross-entropy"));
    loss->setValue(4);
    QCOMPARE(dialog.spec().base.loss_chunks, 4);
    QVERIFY(loss->text().contains(QStringLiteral("fused linear + cross-entropy")));
    c.base.loss_chunks = 8;
    dialog.setSpec(c);
    QCOMPARE(loss->value(), 8);
  }

  void firstStartOffersTheSampleStore() {
    const QString sample = ui::sampleStorePath();
    QVERIFY2(!sample.isEmpty(), "the build tree's sample store was not found");
    ui::MainWindow window;
    window.setInteractive(false);
    window.resize(1200, 800);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    ui::FirstStartOffer& offer = window.firstStartOffer();
    QVERIFY(offer.isVisible());
    QVERIFY(offer.sampleButton().isVisible());
    QVERIFY(offer.text().contains(QStringLiteral("No store is open")));
    QTest::mouseClick(&offer.sampleButton(), Qt::LeftButton);
    QCOMPARE(window.storePath(), sample);
    QVERIFY(!offer.isVisible());
    QVERIFY(window.store() != nullptr);
    // Looking at the sample never records into it.
    QVERIFY(ui::isSampleStore(window.storePath()));
    QVERIFY(window.defaultStoreForNewComparison() != sample);
  }

  void chartsFollowADarkPalette() {
    ui::MemoryTab tab;
    tab.setPalette(ui::darkPalette());
    tab.showRuns(longNamedRuns());
    const ui::ChartColors dark = ui::colorsFor(tab.palette());
    QVERIFY(dark.dark);
    QCOMPARE(tab.peaksPlot().axisRect()->backgroundBrush().color(), dark.background);
    QCOMPARE(tab.peaksPlot().xAxis->tickLabelColor(), dark.ink);
    QVERIFY(dark.ink.lightness() - dark.background.lightness() > 120);  // readable
  }
};

QTEST_MAIN(NewcomerTest)
#include "tst_newcomer.moc"
