#include "tabs/memory_tab.h"

#include <qcustomplot.h>

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QSplitter>
#include <QToolTip>
#include <QVBoxLayout>
#include <algorithm>

#include "charts/bytes_ticker.h"
#include "charts/category_labels.h"
#include "charts/chart_kit.h"
#include "charts/memory_categories.h"
#include "charts/paper_style.h"
#include "outcome_text.h"

namespace optiscope::ui {
namespace {

// A red that reads on the light charts and on the dark ones alike.
const QColor kAlarm(0xE0, 0x36, 0x3C);

void useBytesAxis(QCPAxis* axis, const QString& label) {
  axis->setTicker(QSharedPointer<BytesTicker>::create());
  axis->setLabel(label);
}

QCPItemText* annotate(QCustomPlot& plot, const QString& text, const QColor& color, Qt::Alignment align) {
  auto* item = new QCPItemText(&plot);
  item->setText(text);
  item->setColor(color);
  item->setFont(QFont(plot.font().family(), 8));
  item->setPositionAlignment(align);
  item->setSelectable(false);
  item->setTextAlignment(Qt::AlignLeft);
  return item;
}

// At most this many samples per timeline: more cannot be seen, and filled areas are costly to draw.
constexpr std::size_t kMaxTimelineSamples = 3000;

// The samples a timeline draws: all of a short run; of a long one, the sample with the most memory
// (on the side drawn) in each of kMaxTimelineSamples buckets, so every peak stays in the picture.
std::vector<std::size_t> timelineSamples(const RunData& run, bool device) {
  std::vector<std::size_t> picks;
  const std::size_t n = run.memory.size();
  const std::size_t bucket = (n + kMaxTimelineSamples - 1) / kMaxTimelineSamples;
  for (std::size_t begin = 0; begin < n; begin += std::max<std::size_t>(bucket, 1)) {
    std::size_t best = begin;
    for (std::size_t i = begin; i < std::min(n, begin + bucket); ++i) {
      const auto total = [&](const MemorySample& s) { return device ? s.device_total() : hostBytes(s); };
      if (total(run.memory[i]) > total(run.memory[best])) best = i;
    }
    picks.push_back(best);
  }
  return picks;
}

// A stack of filled graphs, one per category, each filling down to the one below it.
void drawStack(QCustomPlot& plot, const RunData& run, bool device) {
  const std::vector<std::size_t> picks = timelineSamples(run, device);
  QVector<double> keys;
  keys.reserve(static_cast<qsizetype>(picks.size()));
  for (std::size_t i : picks) keys.push_back(static_cast<double>(run.memory[i].step));
  std::vector<double> sum(picks.size(), 0.0);
  QCPGraph* below = nullptr;
  for (const auto& c : memoryCategories()) {
    if (c.onDevice != device) continue;
    // The reclaimable driver cache is drawn above the stack, outlined, after every category: the
    // stack's top stays the run's own use.
    const bool any = std::any_of(run.memory.begin(), run.memory.end(),
                                 [&](const MemorySample& s) { return c.bytes(s) > 0; });
    if (!any) continue;  // a category a run never used would only crowd the legend
    QVector<double> values(keys.size());
    for (std::size_t i = 0; i < picks.size(); ++i)
      values[static_cast<qsizetype>(i)] = sum[i] += static_cast<double>(c.bytes(run.memory[picks[i]]));
    QCPGraph* g = plot.addGraph();
    g->setName(c.name);
    g->setPen(c.reclaimable ? QPen(c.color, 1.0, Qt::DotLine) : QPen(c.color.darker(120), 1.0));
    g->setBrush(categoryBrush(c));
    g->setChannelFillGraph(below);
    g->setData(keys, values, true);
    g->setAdaptiveSampling(false);
    below = g;
  }
}

}  // namespace

MemoryTab::MemoryTab(QWidget* parent)
    : ChartTab(parent),
      timeline_(addPlot(QStringLiteral("memory-timeline"), tr("Device memory by category"))),
      host_(addPlot(QStringLiteral("memory-host"), tr("Optimizer state on the host"))),
      peaks_(addPlot(QStringLiteral("memory-peaks"), tr("Peak device memory by category"))),
      run_(new QComboBox(this)),
      legendNote_(new QLabel(this)) {
  run_->setToolTip(tr("The run the timeline shows"));
  run_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  connect(run_, qOverload<int>(&QComboBox::activated), this, [this] {
    drawTimeline();
    replotAll();
  });
  legendNote_->setWordWrap(true);
  legendNote_->setForegroundRole(QPalette::PlaceholderText);
  legendNote_->setText(
      tr("Hatched ▨ paged state, resident: paged optimizer state that is on the device now (the driver keeps "
         "it there while memory is free, evicts it when memory runs short). Below the zero line: paged state "
         "on the host, which is not device memory. The figure above a bar is the run's demand (allocator, "
         "resident paged state, context), which its budget is compared with. Dotted on top: ") +
      driverCacheExplanation());

  auto* bar = new QHBoxLayout;
  bar->setContentsMargins(6, 4, 6, 0);
  bar->addWidget(new QLabel(tr("Timeline of:"), this));
  bar->addWidget(run_);
  bar->addWidget(legendNote_, 1);
  auto* left = new QSplitter(Qt::Vertical, this);
  left->addWidget(timeline_);
  left->addWidget(host_);
  left->setStretchFactor(0, 3);
  left->setStretchFactor(1, 1);
  left->setSizes({520, 180});
  auto* split = new QSplitter(Qt::Horizontal, this);
  split->addWidget(left);
  split->addWidget(peaks_);
  split->setSizes({540, 500});
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addLayout(bar);
  layout->addWidget(split, 1);

  timeline_->xAxis->setLabel(tr("step"));
  host_->xAxis->setLabel(tr("step"));
  useBytesAxis(timeline_->yAxis, tr("device memory"));
  useBytesAxis(host_->yAxis, tr("host memory"));
  useBytesAxis(peaks_->yAxis, tr("▼ on host        device ▲"));
  linkXAxes({timeline_, host_});
  // Bars are categories, not a continuous axis: no horizontal panning there, zoom on values.
  peaks_->axisRect()->setRangeDrag(Qt::Vertical);
  peaks_->axisRect()->setRangeZoom(Qt::Vertical);
  peaks_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);
  enableBarTips(*peaks_);
  moveLegendOutside(*timeline_);
  moveLegendOutside(*peaks_);
  timeline_->setMouseTracking(true);
  connect(timeline_, &QCustomPlot::mouseMove, this, [this](QMouseEvent* e) { showSampleTip(e); });
}

const RunData* MemoryTab::timelineRun() const {
  const qint64 k = run_->currentData().toLongLong();
  return k >= 0 && k < static_cast<qint64>(runs_.size()) && run_->currentIndex() >= 0
             ? &runs_[static_cast<std::size_t>(k)]
             : nullptr;
}

void MemoryTab::showSampleTip(QMouseEvent* event) {
  const RunData* run = timelineRun();
  if (!run || run->memory.empty() || event->buttons() != Qt::NoButton ||
      !timeline_->axisRect()->rect().contains(event->pos())) {
    QToolTip::hideText();
    return;
  }
  const double step = timeline_->xAxis->pixelToCoord(event->position().x());
  auto it = std::lower_bound(run->memory.begin(), run->memory.end(), step,
                             [](const MemorySample& s, double k) { return static_cast<double>(s.step) < k; });
  if (it == run->memory.end()) --it;
  QString text = tr("<b>%1</b>, step %2<table>").arg(run->look.label.toHtmlEscaped()).arg(it->step);
  for (const auto& c : memoryCategories())
    if (c.bytes(*it) > 0)
      text += QStringLiteral("<tr><td>%1</td><td align=right>&nbsp;%2</td></tr>")
                  .arg(c.name, formatBytes(static_cast<double>(c.bytes(*it))));
  text += tr("<tr><td><b>on the device</b></td><td align=right>&nbsp;<b>%1</b></td></tr></table>")
              .arg(formatBytes(static_cast<double>(it->device_total())));
  QToolTip::showText(event->globalPosition().toPoint(), text, timeline_);
}

void MemoryTab::resetView() {
  // Redrawn rather than rescaled: the bar chart's ranges leave room for its labels and marks.
  drawTimeline();
  drawPeaks();
  replotAll();
}

void MemoryTab::setTimelineRun(std::int64_t run_id, int rank) {
  int found = -1;
  int seen = 0;
  for (std::size_t k = 0; k < runs_.size(); ++k) {
    if (runs_[k].info.id != run_id) continue;
    if (seen++ == rank) found = static_cast<int>(k);
  }
  if (found >= 0) run_->setCurrentIndex(found);
  drawTimeline();
  replotAll();
}

void MemoryTab::showRuns(const std::vector<RunData>& runs) {
  // A run over several ranks is drawn once per rank: each rank is its own card, with its own
  // peak and budget (a sharded run's point is what one rank holds).
  runs_.clear();
  for (const auto& r : runs)
    for (int rank = 0; rank < std::max(1, r.info.world_size); ++rank) runs_.push_back(r.rankView(rank));
  const QString chosen = run_->currentText();
  run_->clear();
  for (std::size_t k = 0; k < runs_.size(); ++k)
    run_->addItem(runs_[k].look.label, QVariant::fromValue<qint64>(static_cast<qint64>(k)));
  const int i = run_->findText(chosen);
  run_->setCurrentIndex(i >= 0 ? i : 0);
  drawTimeline();
  drawPeaks();
  replotAll();
}

void MemoryTab::drawTimeline() {
  for (QCustomPlot* p : {timeline_, host_}) {
    p->clearGraphs();
    p->clearItems();
  }
  QCPItemText* note = addPlotNote(*timeline_);
  QCPItemText* hostNote = addPlotNote(*host_);
  const RunData* run = timelineRun();
  if (!run) {
    note->setText(tr("Check a run to see its memory"));
    note->setVisible(true);
    timeline_->legend->setVisible(false);
    host_->legend->setVisible(false);
    return;
  }
  if (run->memory.empty()) {
    // Stores from before schema 2, or a run that has not finished its first step: the step's
    // total is all there is.
    QCPGraph* g = timeline_->addGraph();
    g->setName(tr("in use (no split by category recorded)"));
    g->setPen(QPen(run->look.color, 1.5));
    for (const auto& s : run->steps)
      g->addData(static_cast<double>(s.step), static_cast<double>(s.mem_bytes));
  } else {
    drawStack(*timeline_, *run, true);
    drawStack(*host_, *run, false);
  }
  timeline_->legend->setVisible(timeline_->graphCount() > 0);
  host_->legend->setVisible(host_->graphCount() > 0);
  if (host_->graphCount() == 0) {
    // Two short lines: the strip is narrow, and one long line was clipped at both ends.
    hostNote->setText(tr("Nothing on the host:\nno paged or offloaded state was evicted in this run"));
    hostNote->setVisible(true);
  }
  rescaleAll(*timeline_);
  rescaleAll(*host_);
  if (host_->graphCount() == 0) {
    host_->yAxis->setRange(0, 1024.0 * 1024 * 1024);
    host_->yAxis->ticker()->setTickCount(2);
  }
  if (run->budget_bytes > 0) {
    auto* line = new QCPItemStraightLine(timeline_);
    line->point1->setCoords(0, static_cast<double>(run->budget_bytes));
    line->point2->setCoords(1, static_cast<double>(run->budget_bytes));
    line->setPen(QPen(kAlarm, 1.5, Qt::DashLine));
    auto* label =
        annotate(*timeline_, tr("device budget %1").arg(formatBytes(static_cast<double>(run->budget_bytes))),
                 kAlarm, Qt::AlignLeft | Qt::AlignBottom);
    label->position->setTypeX(QCPItemPosition::ptAxisRectRatio);
    label->position->setCoords(0.01, static_cast<double>(run->budget_bytes));
    QCPRange r = timeline_->yAxis->range();
    r.expand(static_cast<double>(run->budget_bytes) * 1.08);
    timeline_->yAxis->setRange(r);
  }
  if (run->info.outcome == Outcome::oom && run->info.oom_step) {
    auto* line = new QCPItemStraightLine(timeline_);
    const double x = static_cast<double>(*run->info.oom_step);
    line->point1->setCoords(x, 0);
    line->point2->setCoords(x, 1);
    line->setPen(QPen(kAlarm, 2));
    QString text = outcomeText(run->info);
    if (run->info.oom_bytes)
      text += tr("\nneeded %1").arg(formatBytes(static_cast<double>(*run->info.oom_bytes)));
    auto* label = annotate(*timeline_, text, kAlarm, Qt::AlignRight | Qt::AlignTop);
    label->position->setTypeY(QCPItemPosition::ptAxisRectRatio);
    label->position->setCoords(x, 0.03);
    QCPRange r = timeline_->xAxis->range();
    r.expand(x + 1);
    timeline_->xAxis->setRange(r);
  }
}

void MemoryTab::drawPeaks() {
  peaks_->clearPlottables();
  peaks_->clearItems();
  QCPItemText* note = addPlotNote(*peaks_);
  QStringList categories;
  const int n = static_cast<int>(runs_.size());
  for (const RunData& r : runs_) {
    // A rank's bar: the variant, then which rank, on lines short enough for a bar's width.
    if (r.info.world_size > 1)
      categories << tr("%1\nrank %2 of %3%4\n%5")
                        .arg(QString::fromStdString(r.info.optim))
                        .arg(r.rank)
                        .arg(r.info.world_size)
                        .arg(r.info.zero_stage > 0 ? tr(", ZeRO %1").arg(r.info.zero_stage) : QString())
                        .arg(outcomeText(r.info));
    else
      categories << QStringLiteral("%1\n%2").arg(r.look.label, outcomeText(r.info));
  }
  setCategoryLabels(*peaks_, categories);
  peaks_->xAxis->setRange(0.4, n + 0.6);
  if (n == 0) {
    note->setText(tr("Check runs to compare their peaks"));
    note->setVisible(true);
    peaks_->legend->setVisible(false);
    return;
  }

  QCPBars* below = nullptr;
  double top = 0;
  double bottom = 0;
  for (const auto& c : memoryCategories()) {
    QVector<double> keys;
    QVector<double> values;
    for (int i = 0; i < n; ++i) {
      const MemorySample* peak = runs_[static_cast<std::size_t>(i)].peak();
      const double v = peak ? static_cast<double>(c.bytes(*peak)) : 0.0;
      keys.push_back(i + 1);
      values.push_back(c.onDevice ? v : -v);
    }
    if (std::all_of(values.begin(), values.end(), [](double v) { return v == 0.0; })) continue;
    auto* bars = new QCPBars(peaks_->xAxis, peaks_->yAxis);
    bars->setName(c.name);
    bars->setProperty("format", QStringLiteral("bytes"));
    bars->setBrush(categoryBrush(c));
    bars->setPen(QPen(c.color.darker(130), 0.8));
    bars->setWidth(0.6);
    bars->setData(keys, values, true);
    if (below) bars->moveAbove(below);
    below = bars;
  }
  // One budget for every run (the usual comparison) is one line across; otherwise one per bar.
  const std::int64_t budget0 = runs_.front().budget_bytes;
  const bool sameBudget =
      std::all_of(runs_.begin(), runs_.end(), [&](const RunData& r) { return r.budget_bytes == budget0; });
  if (sameBudget && budget0 > 0) {
    auto* line = new QCPItemStraightLine(peaks_);
    line->point1->setCoords(0, static_cast<double>(budget0));
    line->point2->setCoords(1, static_cast<double>(budget0));
    line->setPen(QPen(kAlarm, 1.5, Qt::DashLine));
    auto* label = annotate(*peaks_, tr("device budget %1").arg(formatBytes(static_cast<double>(budget0))),
                           kAlarm, Qt::AlignLeft | Qt::AlignBottom);
    label->position->setTypeX(QCPItemPosition::ptAxisRectRatio);
    label->position->setCoords(0.01, static_cast<double>(budget0));
    top = std::max(top, static_cast<double>(budget0));
  }
  // Runs without categories (older stores) still get a bar: their step's peak in use.
  QCPBars* oom = nullptr;
  for (int i = 0; i < n; ++i) {
    const RunData& r = runs_[static_cast<std::size_t>(i)];
    double device = 0;
    double host = 0;
    double verdict = 0;  // the figure the label names: what the budget is compared with
    if (const MemorySample* peak = r.peak()) {
      device = static_cast<double>(peak->device_total());
      host = static_cast<double>(hostBytes(*peak));
      // An over-budget run's largest demand may fall between samples (paged state the migrations
      // showed on the device): the label names the run's own verdict.
      verdict = static_cast<double>(std::max(peak->demand(), r.info.over_budget_bytes.value_or(0)));
    } else if (!r.steps.empty()) {
      for (const auto& s : r.steps) device = std::max(device, static_cast<double>(s.mem_bytes));
      auto* bars = new QCPBars(peaks_->xAxis, peaks_->yAxis);
      bars->setName(tr("in use (no split)"));
      bars->setProperty("format", QStringLiteral("bytes"));
      bars->setBrush(r.look.color.lighter(140));
      bars->setWidth(0.6);
      bars->addData(i + 1, device);
      verdict = device;
    }
    top = std::max(top, device);
    bottom = std::min(bottom, -host);
    // The label sits above the reclaimable driver cache, but names the run's demand, the figure its
    // budget and fit verdict use: the "other" segment (device memory no category explains) is drawn
    // but not in it, so a run that held its budget never reads as over it.
    const double cache = r.peak() ? static_cast<double>(r.peak()->driver_cache) : 0.0;
    auto* total =
        annotate(*peaks_, formatBytes(verdict), colorsFor(palette()).ink, Qt::AlignHCenter | Qt::AlignBottom);
    total->setProperty("inkText", true);
    total->position->setCoords(i + 1, device + cache);
    top = std::max(top, device + cache);
    if (host > 0) {
      auto* h = annotate(*peaks_, tr("%1 on host").arg(formatBytes(host)), colorsFor(palette()).ink,
                         Qt::AlignHCenter | Qt::AlignTop);
      h->setProperty("inkText", true);
      h->position->setCoords(i + 1, -host);
    }
    if (r.info.outcome == Outcome::oom) {
      const double at = r.info.oom_bytes ? static_cast<double>(*r.info.oom_bytes) : device;
      if (oom == nullptr) oom = addOomOutlineBars(*peaks_, kAlarm);
      oom->addData(i + 1, at);
      top = std::max(top, at);
      auto* label = annotate(
          *peaks_, tr("OOM%1").arg(r.info.oom_step ? tr(" at step %1").arg(*r.info.oom_step) : QString()),
          kAlarm, Qt::AlignHCenter | Qt::AlignBottom);
      label->setFont(QFont(peaks_->font().family(), 9, QFont::Bold));
      label->position->setCoords(i + 1, at);
      label->setPadding(QMargins(0, 0, 0, 14));
    }
    if (r.budget_bytes > 0 && !sameBudget) {
      auto* line = new QCPItemLine(peaks_);
      line->start->setCoords(i + 1 - 0.42, static_cast<double>(r.budget_bytes));
      line->end->setCoords(i + 1 + 0.42, static_cast<double>(r.budget_bytes));
      line->setPen(QPen(kAlarm, 2, Qt::DashLine));
      auto* label = annotate(*peaks_, tr("budget %1").arg(formatBytes(static_cast<double>(r.budget_bytes))),
                             kAlarm, Qt::AlignRight | Qt::AlignBottom);
      label->position->setCoords(i + 1 + 0.42, static_cast<double>(r.budget_bytes));
      top = std::max(top, static_cast<double>(r.budget_bytes));
    }
  }
  auto* zero = new QCPItemStraightLine(peaks_);
  zero->point1->setCoords(0, 0);
  zero->point2->setCoords(1, 0);
  zero->setPen(QPen(colorsFor(palette()).ink, 1));
  // Room above the tallest bar for its label and the OOM mark, below for the host labels.
  // Below: the host label needs a fixed share of the height, not a share of the host bar.
  peaks_->yAxis->setRange(bottom < 0 ? bottom - 0.07 * (top - bottom) : 0, top * 1.18);
  peaks_->legend->setVisible(true);
}

}  // namespace optiscope::ui
