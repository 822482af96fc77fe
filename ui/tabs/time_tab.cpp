#include "tabs/time_tab.h"

#include <qcustomplot.h>

#include <QSplitter>
#include <QVBoxLayout>
#include <algorithm>

#include "charts/category_labels.h"
#include "charts/chart_kit.h"
#include "charts/hover_readout.h"
#include "charts/level_of_detail.h"
#include "charts/paper_style.h"
#include "charts/warm_up.h"
#include "outcome_text.h"
#include "run_summary.h"

namespace optiscope::ui {
namespace {

double medianOf(std::vector<double> v) {
  if (v.empty()) return 0.0;
  auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

struct PhaseSplit {
  double forward = 0, backward = 0, optimizer = 0, rest = 0;
  double communication = 0;  // collectives of a run over several ranks (rank 0's)
};

// Medians per phase: warm-up steps and hiccups of a shared machine would otherwise decide.
PhaseSplit phaseSplit(const RunData& r) {
  std::vector<double> f, b, o, c, total;
  for (const auto& s : r.steps) {
    total.push_back(s.step_ms);
    if (s.forward_ms) f.push_back(*s.forward_ms);
    if (s.backward_ms) b.push_back(*s.backward_ms);
    if (s.optimizer_ms) o.push_back(*s.optimizer_ms);
    if (s.comm_ms) c.push_back(*s.comm_ms);
  }
  PhaseSplit p{medianOf(f), medianOf(b), medianOf(o), 0, medianOf(c)};
  p.rest = std::max(0.0, medianOf(total) - p.forward - p.backward - p.optimizer - p.communication);
  return p;
}

QString durationText(double seconds) {
  if (seconds < 120) return QStringLiteral("%1 s").arg(seconds, 0, 'f', 1);
  if (seconds < 7200) return QStringLiteral("%1 min").arg(seconds / 60, 0, 'f', 1);
  return QStringLiteral("%1 h").arg(seconds / 3600, 0, 'f', 2);
}

}  // namespace

TimeTab::TimeTab(QWidget* parent)
    : ChartTab(parent),
      steps_(addPlot(QStringLiteral("step-time"), tr("Step time"))),
      phases_(addPlot(QStringLiteral("phase-time"), tr("Median step by phase"))),
      throughput_(addPlot(QStringLiteral("throughput"), tr("Throughput and total time"))) {
  auto* bottom = new QSplitter(Qt::Horizontal, this);
  bottom->addWidget(phases_);
  bottom->addWidget(throughput_);
  // Half each: the throughput bars were left a third, too narrow for their names and figures.
  bottom->setSizes({500, 500});
  auto* split = new QSplitter(Qt::Vertical, this);
  split->addWidget(steps_);
  split->addWidget(bottom);
  split->setSizes({400, 360});
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(split);

  steps_->xAxis->setLabel(tr("step"));
  steps_->yAxis->setLabel(tr("step time (ms)"));
  phases_->yAxis->setLabel(tr("ms per step"));
  throughput_->yAxis->setLabel(tr("tokens / s"));
  for (QCustomPlot* p : {phases_, throughput_}) {
    p->axisRect()->setRangeDrag(Qt::Vertical);
    p->axisRect()->setRangeZoom(Qt::Vertical);
    enableBarTips(*p);
  }
  throughput_->legend->setVisible(false);
  // Legends under the plots: in the corner they covered the warm-up note and the last bar.
  moveLegendOutside(*steps_);
  moveLegendOutside(*phases_);
  stepsLod_ = new LevelOfDetail(*steps_);
  hover_ = new HoverReadout(*steps_, [this](const QCPGraph& g, double key, double value) {
    // A warm-up marker sits at the top of the axis; its read-out gives the real time.
    for (const WarmUp& w : warmUps_) {
      if (w.graph != &g) continue;
      const auto i = w.steps.indexOf(key);
      if (i >= 0) value = w.ms[i];
      return tr("%1\nstep %2 (warm-up)\n%3 ms")
          .arg(g.name())
          .arg(static_cast<qint64>(key))
          .arg(value, 0, 'f', 1);
    }
    return tr("%1\nstep %2\n%3 ms").arg(g.name()).arg(static_cast<qint64>(key)).arg(value, 0, 'f', 1);
  });
}

void TimeTab::showRuns(const std::vector<RunData>& runs) {
  runs_ = runs;
  hover_->hide();
  stepsLod_->clear();
  steps_->clearGraphs();
  warmUps_.clear();
  warmUpGraphs_.clear();
  for (QCustomPlot* p : {phases_, throughput_}) {
    p->clearPlottables();
    p->clearItems();
  }
  QStringList categories;
  const int n = static_cast<int>(runs_.size());
  struct Phase {
    QString name;
    QColor color;
    double PhaseSplit::*field;
  };
  const Phase phases[] = {
      {tr("forward"), QColor(0x4C, 0x72, 0xB0), &PhaseSplit::forward},
      {tr("backward"), QColor(0x55, 0xA8, 0x68), &PhaseSplit::backward},
      {tr("optimizer"), QColor(0xC4, 0x4E, 0x52), &PhaseSplit::optimizer},
      {tr("communication (collectives)"), QColor(0x81, 0x72, 0xB3), &PhaseSplit::communication},
      {tr("other (data, sync)"), QColor(0xB0, 0xB0, 0xB0), &PhaseSplit::rest}};
  std::vector<PhaseSplit> splits;
  for (int i = 0; i < n; ++i) {
    const RunData& r = runs_[static_cast<std::size_t>(i)];
    categories << QStringLiteral("%1\n%2").arg(r.look.label, outcomeText(r.info));
    splits.push_back(phaseSplit(r));
    QCPGraph* g = steps_->addGraph();
    g->setName(r.look.label);
    // Opaque and thin: step times are noisy, and translucent wide strokes of noise are slow to draw.
    g->setPen(QPen(r.look.color, 1.0, r.look.style));
    const std::size_t warm = warmUpSteps(r.steps);
    QVector<double> k, v;
    k.reserve(static_cast<qsizetype>(r.steps.size()));
    v.reserve(static_cast<qsizetype>(r.steps.size()));
    for (std::size_t j = warm; j < r.steps.size(); ++j) {
      k << static_cast<double>(r.steps[j].step);
      v << r.steps[j].step_ms;
    }
    stepsLod_->setData(g, k, v);
    if (warm > 0) {
      QCPGraph* w = steps_->addGraph();
      w->setName(r.look.label);
      w->setLineStyle(QCPGraph::lsNone);
      w->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssTriangle, QPen(r.look.color, 1.5),
                                         colorsFor(palette()).background, 9));
      w->removeFromLegend();
      WarmUp entry{w, {}, {}};
      for (std::size_t j = 0; j < warm; ++j) {
        entry.steps << static_cast<double>(r.steps[j].step);
        entry.ms << r.steps[j].step_ms;
      }
      warmUps_.push_back(entry);
      warmUpGraphs_.push_back(w);
    }
  }
  if (!warmUps_.empty()) {
    // One legend entry for every run's warm-up markers: the colour says whose.
    QCPGraph* key = steps_->addGraph();
    key->setName(tr("warm-up step (off the scale)"));
    key->setLineStyle(QCPGraph::lsNone);
    key->setScatterStyle(
        QCPScatterStyle(QCPScatterStyle::ssTriangle, QPen(colorsFor(palette()).muted, 1.5), Qt::NoBrush, 9));
  }
  QCPBars* below = nullptr;
  for (const auto& ph : phases) {
    // Only runs over several ranks have collectives: no empty legend entry for the others.
    if (ph.field == &PhaseSplit::communication &&
        std::none_of(splits.begin(), splits.end(), [](const PhaseSplit& p) { return p.communication > 0; }))
      continue;
    auto* bars = new QCPBars(phases_->xAxis, phases_->yAxis);
    bars->setName(ph.name);
    bars->setProperty("format", QStringLiteral("ms"));
    bars->setBrush(ph.color);
    bars->setPen(QPen(ph.color.darker(130), 0.8));
    bars->setWidth(0.6);
    for (int i = 0; i < n; ++i) bars->addData(i + 1, splits[static_cast<std::size_t>(i)].*(ph.field));
    if (below) bars->moveAbove(below);
    below = bars;
  }
  for (int i = 0; i < n; ++i) {
    const RunData& r = runs_[static_cast<std::size_t>(i)];
    const RunSummary sum = summarize(r.steps);
    auto* bars = new QCPBars(throughput_->xAxis, throughput_->yAxis);
    bars->setName(r.look.label);
    bars->setProperty("format", QStringLiteral("tokens/s"));
    bars->setBrush(r.look.color);
    bars->setPen(Qt::NoPen);
    bars->setWidth(0.6);
    const double rate = sum.tokens_per_second.value_or(0.0);
    bars->addData(i + 1, rate);
    double total = 0;
    for (const auto& s : r.steps) total += s.step_ms;
    auto* label = new QCPItemText(throughput_);
    // Short enough for a bar's slot ("26.9 k tok/s"): five full figures side by side ran into each other.
    const QString rateText = rate >= 10000 ? tr("%L1 k").arg(rate / 1000.0, 0, 'f', 1)
                                           : QStringLiteral("%L1").arg(rate, 0, 'f', 0);
    label->setText(tr("%1 tok/s\n%2 total").arg(rateText, durationText(total / 1000.0)));
    label->setProperty("inkText", true);
    label->setColor(colorsFor(palette()).ink);
    label->setFont(QFont(throughput_->font().family(), 8));
    label->setPositionAlignment(Qt::AlignHCenter | Qt::AlignBottom);
    label->position->setCoords(i + 1, rate);
  }
  for (QCustomPlot* p : {phases_, throughput_}) setCategoryLabels(*p, categories);
  phases_->legend->setVisible(n > 0);
  steps_->legend->setVisible(n > 0);
  resetView();
}

void TimeTab::resetView() {
  stepsLod_->showAll();
  for (const WarmUp& w : warmUps_) w.graph->setVisible(false);
  rescaleAll(*steps_);
  for (const WarmUp& w : warmUps_) w.graph->setVisible(true);
  if (!warmUps_.empty()) {
    // Half a step of room on the left: a marker on the first step is otherwise cut in half.
    const QCPRange x = steps_->xAxis->range();
    steps_->xAxis->setRange(x.lower - 0.5, x.upper);
  }
  placeWarmUps();
  const int n = static_cast<int>(runs_.size());
  for (QCustomPlot* p : {phases_, throughput_}) {
    rescaleAll(*p);
    p->xAxis->setRange(0.4, n + 0.6);
    // Headroom for the labels above the bars.
    p->yAxis->setRange(0, p->yAxis->range().upper * 1.2);
  }
  replotAll();
}

void TimeTab::placeWarmUps() {
  // Only the note of the last drawing goes: the hover read-out's items live on this plot too.
  if (warmUpNote_) steps_->removeItem(warmUpNote_);
  warmUpNote_ = nullptr;
  if (warmUps_.empty()) return;
  // The steady steps set the scale (rescaleAll above ran with the markers hidden); a warm-up step
  // above it sits at the top edge, and the note says how long it really took.
  const double top = steps_->yAxis->range().upper;
  QStringList lines;
  for (const WarmUp& w : warmUps_) {
    QVector<double> shown;
    for (const double ms : w.ms) shown << std::min(ms, top * 0.97);
    w.graph->setData(w.steps, shown, true);
    QStringList times;
    for (qsizetype i = 0; i < w.steps.size(); ++i)
      times << tr("step %1: %2 ms").arg(static_cast<qint64>(w.steps[i])).arg(w.ms[i], 0, 'f', 0);
    lines << tr("%1 warm-up, %2").arg(w.graph->name(), times.join(QStringLiteral(", ")));
  }
  QCPItemText* note = addPlotNote(*steps_);
  warmUpNote_ = note;
  note->setText(lines.join(QLatin1Char('\n')));
  note->position->setCoords(0.99, 0.03);
  note->setPositionAlignment(Qt::AlignRight | Qt::AlignTop);
  note->setTextAlignment(Qt::AlignRight);
  note->setFont(QFont(steps_->font().family(), 8));
  note->setVisible(true);
}

}  // namespace optiscope::ui
