#include "tabs/ladder_tab.h"

#include <qcustomplot.h>

#include <QLabel>
#include <QSplitter>
#include <QVBoxLayout>
#include <algorithm>

#include "charts/bytes_ticker.h"
#include "charts/chart_kit.h"
#include "charts/memory_categories.h"
#include "charts/paper_style.h"
#include "outcome_text.h"
#include "store/ladder_summary.h"

namespace optiscope::ui {
namespace {

const QColor kAlarm(0xC0, 0x10, 0x20);
const QColor kFits(0x1B, 0x7F, 0x3B);

double medianStepMs(const RunData& r) {
  std::vector<double> ms;
  for (const auto& s : r.steps) ms.push_back(s.step_ms);
  if (ms.empty()) return 0.0;
  std::nth_element(ms.begin(), ms.begin() + static_cast<std::ptrdiff_t>(ms.size() / 2), ms.end());
  return ms[ms.size() / 2];
}

RungVerdict verdictOf(const RunData& r) {
  const auto peak = peak_demand(r.memory);
  return rung_verdict(r.info.outcome, peak ? demand_bytes(*peak) : 0,
                      static_cast<std::uint64_t>(r.budget_bytes));
}

QString verdictText(const RunData& r) {
  switch (verdictOf(r)) {
    case RungVerdict::fits:
      return QObject::tr("fits");
    case RungVerdict::over_budget:
      return QObject::tr("over budget");
    default:
      return outcomeText(r.info);
  }
}

QCPItemText* label(QCustomPlot& plot, const QString& text, const QColor& color, double x, double y) {
  auto* item = new QCPItemText(&plot);
  item->setText(text);
  item->setColor(color);
  item->setFont(QFont(plot.font().family(), 8, QFont::Bold));
  item->setPositionAlignment(Qt::AlignHCenter | Qt::AlignBottom);
  item->setTextAlignment(Qt::AlignHCenter);
  item->setSelectable(false);
  item->position->setCoords(x, y);
  return item;
}

// The categories that make up MemorySample::demand(): the stack drawn against the budget. Not the
// reclaimable driver cache, and not "other" (what nothing explains), which no demand counts.
bool partOfDemand(const MemoryCategory& c) {
  MemorySample unexplained;
  unexplained.other_device = 1;
  return c.onDevice && !c.reclaimable && c.bytes(unexplained) == 0;
}

// Rung names on the x axis: the names say what each rung adds, left to right.
QSharedPointer<QCPAxisTickerText> rungTicker(const std::vector<RunData>& rungs) {
  auto ticker = QSharedPointer<QCPAxisTickerText>::create();
  for (std::size_t i = 0; i < rungs.size(); ++i)
    ticker->addTick(static_cast<double>(i + 1),
                    QString(rungs[i].look.label).replace(QStringLiteral("+ "), QStringLiteral("+\u00a0")));
  return ticker;
}

// Clears the plot and sets its x axis to the rungs; false (with `emptyNote` shown) when there are
// none to draw.
bool startRungPlot(QCustomPlot& plot, const std::vector<RunData>& rungs, const QString& emptyNote,
                   double labelRotation) {
  plot.clearPlottables();
  plot.clearItems();
  QCPItemText* note = addPlotNote(plot);
  const int n = static_cast<int>(rungs.size());
  plot.xAxis->setTicker(rungTicker(rungs));
  plot.xAxis->setTickLabelRotation(n > 3 ? labelRotation : 0);
  plot.xAxis->setRange(0.4, n + (n > 3 ? 1.0 : 0.6));
  plot.legend->setVisible(n > 0);
  if (n > 0) return true;
  note->setText(emptyNote);
  note->setVisible(true);
  return false;
}

}  // namespace

LadderTab::LadderTab(QWidget* parent)
    : ChartTab(parent),
      memory_(addPlot(QStringLiteral("ladder-memory"), tr("Fit ladder: peak device demand by category"))),
      time_(addPlot(QStringLiteral("ladder-step-time"), tr("Fit ladder: median step time"))),
      note_(new QLabel(this)) {
  note_->setWordWrap(true);
  note_->setForegroundRole(QPalette::PlaceholderText);
  note_->setText(
      tr("Each rung adds one memory trick to the one before. A rung fits only if its measured "
         "peak demand (allocator reserved + paged state resident on the device + context) stays "
         "within the budget, not because it completed."));
  auto* split = new QSplitter(Qt::Horizontal, this);
  split->addWidget(memory_);
  split->addWidget(time_);
  split->setSizes({640, 400});
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(note_);
  layout->addWidget(split, 1);
  memory_->yAxis->setTicker(QSharedPointer<BytesTicker>::create());
  memory_->yAxis->setLabel(tr("peak device demand"));
  time_->yAxis->setLabel(tr("median step time (ms)"));
  for (QCustomPlot* p : {memory_, time_}) {
    p->axisRect()->setRangeDrag(Qt::Vertical);
    p->axisRect()->setRangeZoom(Qt::Vertical);
    enableBarTips(*p);
  }
  moveLegendOutside(*memory_);
}

void LadderTab::resetView() {
  drawMemory();
  drawTime();
  replotAll();
}

void LadderTab::showRuns(const std::vector<RunData>& runs) {
  rungs_.clear();
  for (const auto& r : runs)
    if (r.rungIndex >= 0) rungs_.push_back(r);
  std::stable_sort(rungs_.begin(), rungs_.end(), [](const RunData& a, const RunData& b) {
    return a.info.comparison_id != b.info.comparison_id ? a.info.comparison_id < b.info.comparison_id
                                                        : a.rungIndex < b.rungIndex;
  });
  resetView();
}

void LadderTab::drawMemory() {
  QCustomPlot& plot = *memory_;
  if (!startRungPlot(plot, rungs_,
                     tr("Check the runs of a fit ladder (File > New fit ladder…, or optiscope-cli ladder)"),
                     25))
    return;
  const int n = static_cast<int>(rungs_.size());
  std::vector<std::optional<MemorySample>> peaks;
  for (const auto& r : rungs_) peaks.push_back(peak_demand(r.memory));
  QCPBars* below = nullptr;
  for (const auto& c : memoryCategories()) {
    if (!partOfDemand(c)) continue;
    QVector<double> keys, values;
    for (int i = 0; i < n; ++i) {
      keys.push_back(i + 1);
      values.push_back(peaks[static_cast<std::size_t>(i)]
                           ? static_cast<double>(c.bytes(*peaks[static_cast<std::size_t>(i)]))
                           : 0.0);
    }
    if (std::all_of(values.begin(), values.end(), [](double v) { return v == 0.0; })) continue;
    auto* bars = new QCPBars(plot.xAxis, plot.yAxis);
    bars->setName(c.name);
    bars->setProperty("format", QStringLiteral("bytes"));
    bars->setBrush(categoryBrush(c));
    bars->setPen(QPen(c.color.darker(130), 0.8));
    bars->setWidth(0.6);
    bars->setData(keys, values, true);
    if (below) bars->moveAbove(below);
    below = bars;
  }
  double top = 0;
  const std::int64_t budget = rungs_.front().budget_bytes;
  if (budget > 0) {
    // A line across the whole chart, named in the legend: a label on the chart would collide with
    // the verdicts of rungs near the budget.
    auto* line = plot.addGraph();
    line->setName(tr("budget %1").arg(formatBytes(static_cast<double>(budget))));
    line->setPen(QPen(kAlarm, 1.5, Qt::DashLine));
    line->setData({plot.xAxis->range().lower, plot.xAxis->range().upper},
                  {static_cast<double>(budget), static_cast<double>(budget)});
    line->setProperty("budget", true);
    top = static_cast<double>(budget);
  }
  // One outline series for every rung that ran out of memory, so the legend names it once.
  QCPBars* oom = nullptr;
  for (int i = 0; i < n; ++i) {
    const RunData& r = rungs_[static_cast<std::size_t>(i)];
    const auto& peak = peaks[static_cast<std::size_t>(i)];
    double height = peak ? static_cast<double>(demand_bytes(*peak)) : 0.0;
    if (r.info.outcome == Outcome::oom) {
      // What the allocator was asked for when it gave up: the rung's demand went past the budget here.
      const double at = r.info.oom_bytes ? static_cast<double>(*r.info.oom_bytes) : height;
      if (oom == nullptr) oom = addOomOutlineBars(plot, kAlarm);
      oom->addData(i + 1, at);
      height = std::max(height, at);
    }
    // A verdict just under the budget would sit on the budget line: it goes above the line instead.
    if (budget > 0 && height < static_cast<double>(budget) && height > 0.9 * static_cast<double>(budget))
      height = static_cast<double>(budget);
    const RungVerdict v = verdictOf(r);
    const QColor color = v == RungVerdict::fits      ? kFits
                         : v == RungVerdict::running ? colorsFor(palette()).ink
                                                     : kAlarm;
    // An OOM before the first sample has no demand of its own: the figure is what it had asked for.
    // Over budget, the figure is the run's own verdict: its largest demand, which counts paged state
    // the migrations showed on the device between two samples (so the bar, drawn from the samples,
    // can stay under the line while the run went over it).
    QString figure = QStringLiteral("—");
    if (peak)
      figure = formatBytes(
          static_cast<double>(std::max(demand_bytes(*peak), r.info.over_budget_bytes.value_or(0))));
    else if (r.info.oom_bytes)
      figure = formatBytes(static_cast<double>(*r.info.oom_bytes));
    // One short line each ("oom" / "at step 1" / "23.9 GiB"): six rungs in a narrow window leave
    // a bar's width for the text.
    QString verdict = verdictText(r);
    verdict.replace(QStringLiteral(" at "), QStringLiteral("\nat "));
    label(plot, QStringLiteral("%1\n%2").arg(verdict, figure), color, i + 1, height);
    top = std::max(top, height);
  }
  plot.yAxis->setRange(0, std::max(top, 1.0) * 1.22);
}

void LadderTab::drawTime() {
  QCustomPlot& plot = *time_;
  // The narrower chart: its rung names stand upright so that none is cut off.
  if (!startRungPlot(plot, rungs_, tr("No ladder runs checked"), 90)) return;
  plot.legend->setVisible(false);  // the rung names on the axis say what each bar is
  double top = 0;
  for (std::size_t i = 0; i < rungs_.size(); ++i) {
    const RunData& r = rungs_[i];
    const double ms = medianStepMs(r);
    const double x = static_cast<double>(i + 1);
    if (ms > 0) {
      auto* bars = new QCPBars(plot.xAxis, plot.yAxis);
      bars->setName(r.look.label);
      bars->setProperty("format", QStringLiteral("ms"));
      bars->setBrush(r.look.color.lighter(115));
      bars->setPen(QPen(r.look.color.darker(130), 0.8));
      bars->setWidth(0.6);
      bars->addData(x, ms);
    }
    const QString none = r.info.outcome == Outcome::oom ? tr("OOM") : verdictText(r);
    label(plot, ms > 0 ? QStringLiteral("%1 ms").arg(ms, 0, 'f', ms < 100 ? 1 : 0) : none,
          ms > 0 ? colorsFor(palette()).ink : kAlarm, x, ms);
    top = std::max(top, ms);
  }
  plot.yAxis->setRange(0, std::max(top, 1.0) * 1.2);
}

QString LadderTab::dataCsv() const {
  if (rungs_.empty()) return {};
  QString out = QStringLiteral("rung,optim,outcome,peak_demand_bytes");
  for (const auto& c : memoryCategories())
    if (partOfDemand(c))
      out += QLatin1Char(',') + QString(c.name).replace(QLatin1Char(','), QLatin1Char(';'));
  out += QStringLiteral(",budget_bytes,median_step_ms\n");
  for (const auto& r : rungs_) {
    const auto peak = peak_demand(r.memory);
    out += QStringLiteral("\"%1\",%2,%3,%4")
               .arg(r.look.label, QString::fromStdString(r.info.optim),
                    QString::fromStdString(to_string(verdictOf(r))))
               .arg(peak ? std::max(demand_bytes(*peak), r.info.over_budget_bytes.value_or(0)) : 0);
    for (const auto& c : memoryCategories())
      if (partOfDemand(c)) out += QStringLiteral(",%1").arg(peak ? c.bytes(*peak) : 0);
    out += QStringLiteral(",%1,%2\n").arg(r.budget_bytes).arg(medianStepMs(r), 0, 'f', 3);
  }
  return out;
}

}  // namespace optiscope::ui
