#include "charts/loss_chart.h"

#include <qcustomplot.h>
#include <QCheckBox>
#include <QDebug>
#include <QHBoxLayout>
#include <QLabel>
#include <QToolButton>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <limits>

#include "charts/chart_export.h"
#include "charts/hover_readout.h"
#include "charts/paper_style.h"
#include "store/store.h"

namespace optiscope::ui {
namespace {

constexpr double kYPadding = 0.05;  // fraction of the loss range left free above and below

}  // namespace

LossChart::LossChart(QWidget* parent)
    : QWidget(parent), plot_(new QCustomPlot(this)), logScale_(new QCheckBox(tr("Log scale"), this)) {
  applyPaperStyle(*plot_);
  plot_->xAxis->setLabel(tr("step"));
  plot_->yAxis->setLabel(tr("loss"));
  plot_->plotLayout()->insertRow(0);
  auto* title =
      new QCPTextElement(plot_, tr("Training loss"), QFont(plot_->font().family(), 11, QFont::DemiBold));
  title->setTextColor(QColor(0x22, 0x22, 0x22));
  plot_->plotLayout()->addElement(0, 0, title);
  plot_->legend->setVisible(true);
  plot_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
  plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);

  emptyHint_ = new QCPItemText(plot_);
  emptyHint_->position->setType(QCPItemPosition::ptAxisRectRatio);
  emptyHint_->position->setCoords(0.5, 0.5);
  emptyHint_->setColor(QColor(0x80, 0x80, 0x80));
  emptyHint_->setFont(QFont(plot_->font().family(), 11));
  emptyHint_->setSelectable(false);

  hover_ = new HoverReadout(*plot_, [this](const QCPGraph& graph, double key, double value) {
    return tr("%1\nstep %2\nloss %3").arg(labelOf(graph)).arg(static_cast<qint64>(key)).arg(value, 0, 'g', 5);
  });

  // Any range change we did not make ourselves is the user zooming or panning.
  for (QCPAxis* axis : {plot_->xAxis, plot_->yAxis}) {
    connect(axis, qOverload<const QCPRange&>(&QCPAxis::rangeChanged), this, [this] {
      if (!rescaling_) followData_ = false;
    });
  }
  connect(plot_, &QCustomPlot::mouseDoubleClick, this, &LossChart::resetView);

  auto* reset = new QToolButton(this);
  reset->setText(tr("Reset view"));
  reset->setToolTip(tr("Show all the data again and follow new steps (or double-click the chart)"));
  connect(reset, &QToolButton::clicked, this, &LossChart::resetView);
  logScale_->setToolTip(tr("Logarithmic loss axis"));
  connect(logScale_, &QCheckBox::toggled, this, &LossChart::setLogScale);
  auto* hint = new QLabel(tr("Wheel: zoom   Drag: pan   Double-click: reset"), this);
  hint->setForegroundRole(QPalette::PlaceholderText);

  auto* bar = new QHBoxLayout;
  bar->setContentsMargins(6, 4, 6, 0);
  bar->addWidget(hint);
  bar->addStretch(1);
  bar->addWidget(logScale_);
  bar->addWidget(reset);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(2);
  layout->addLayout(bar);
  layout->addWidget(plot_, 1);

  setEmptyMessage(tr("No runs to show"));
  resetView();
}

void LossChart::setStore(const Store* store) {
  store_ = store;
  setSeries({});
}

void LossChart::setSeries(const std::vector<ChartSeries>& series) {
  hover_->hide();
  // Drop the runs no longer wanted.
  for (auto it = shown_.begin(); it != shown_.end();) {
    const bool wanted = std::any_of(series.begin(), series.end(),
                                    [&](const ChartSeries& s) { return s.run_id == it->series.run_id; });
    if (wanted) {
      ++it;
    } else {
      plot_->removeGraph(it->graph);
      it = shown_.erase(it);
    }
  }
  // Keep the rest, add the new ones, and order all of them as asked.
  std::vector<Shown> ordered;
  ordered.reserve(series.size());
  for (const auto& s : series) {
    auto known = std::find_if(shown_.begin(), shown_.end(),
                              [&](const Shown& sh) { return sh.series.run_id == s.run_id; });
    if (known != shown_.end()) {
      known->series = s;
      ordered.push_back(*known);
    } else {
      Shown fresh{s, plot_->addGraph(), 0};
      readNewSteps(fresh);
      ordered.push_back(fresh);
    }
  }
  shown_ = std::move(ordered);
  plot_->legend->clearItems();
  for (const auto& s : shown_) {
    applyLook(s);
    s.graph->addToLegend();
  }
  updateEmptyHint();
  if (followData_) rescaleToData();
  plot_->replot();
}

void LossChart::appendNewSteps() {
  bool grew = false;
  for (auto& s : shown_) {
    const auto before = s.last_step;
    readNewSteps(s);
    grew = grew || s.last_step != before;
  }
  if (!grew) return;
  updateEmptyHint();
  if (followData_) rescaleToData();
  plot_->replot(QCustomPlot::rpQueuedReplot);
}

void LossChart::readNewSteps(Shown& shown) {
  if (!store_) return;
  std::vector<StepRecord> steps;
  try {
    steps = store_->steps(shown.series.run_id, shown.last_step);
  } catch (const StoreError& e) {
    // A busy or vanished file must not take the window down; the next refresh tries again.
    qWarning() << "loss chart: cannot read steps of run" << shown.series.run_id << ":" << e.what();
    return;
  }
  if (steps.empty()) return;
  QVector<double> keys;
  QVector<double> values;
  keys.reserve(static_cast<qsizetype>(steps.size()));
  values.reserve(static_cast<qsizetype>(steps.size()));
  for (const auto& st : steps) {
    keys.push_back(static_cast<double>(st.step));
    // A diverged step (inf/NaN) becomes a gap in the line instead of breaking the axis range.
    values.push_back(std::isfinite(st.loss) ? st.loss : std::numeric_limits<double>::quiet_NaN());
  }
  shown.graph->addData(keys, values, true);
  shown.last_step = steps.back().step;
}

void LossChart::applyLook(const Shown& shown) {
  // Slightly translucent: variants that learn alike (8-bit next to 32-bit) lie on top of each
  // other, and the blend shows both lines instead of the last one drawn.
  QColor color = shown.series.color;
  color.setAlpha(200);
  QPen pen(color, 2.0, shown.series.style);
  pen.setCapStyle(Qt::RoundCap);
  pen.setJoinStyle(Qt::RoundJoin);
  shown.graph->setPen(pen);
  shown.graph->setName(shown.series.label);
  shown.graph->setLineStyle(QCPGraph::lsLine);
}

void LossChart::resetView() {
  followData_ = true;
  hover_->hide();
  rescaleToData();
  plot_->replot();
}

void LossChart::rescaleToData() {
  rescaling_ = true;
  bool any = false;
  QCPRange keys;
  QCPRange values;
  const QCP::SignDomain domain = logScale_->isChecked() ? QCP::sdPositive : QCP::sdBoth;
  for (const auto& s : shown_) {
    bool foundKeys = false;
    bool foundValues = false;
    const QCPRange k = s.graph->getKeyRange(foundKeys);
    const QCPRange v = s.graph->getValueRange(foundValues, domain);
    if (!foundKeys || !foundValues) continue;
    keys = any ? QCPRange(std::min(keys.lower, k.lower), std::max(keys.upper, k.upper)) : k;
    values = any ? QCPRange(std::min(values.lower, v.lower), std::max(values.upper, v.upper)) : v;
    any = true;
  }
  if (!any) {
    plot_->xAxis->setRange(0, 100);
    plot_->yAxis->setRange(logScale_->isChecked() ? QCPRange(0.1, 10) : QCPRange(0, 1));
  } else {
    // Steps start at 1; starting the axis at 0 reads better than at 1.
    plot_->xAxis->setRange(std::min(0.0, keys.lower), std::max(keys.upper, keys.lower + 1));
    if (logScale_->isChecked()) {
      const double f = std::pow(values.upper / values.lower, kYPadding);
      plot_->yAxis->setRange(values.lower / f, values.upper * f);
    } else {
      const double pad = std::max((values.upper - values.lower) * kYPadding, 1e-6);
      plot_->yAxis->setRange(values.lower - pad, values.upper + pad);
    }
  }
  rescaling_ = false;
}

void LossChart::setLogScale(bool on) {
  plot_->yAxis->setScaleType(on ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
  if (on) {
    plot_->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>::create());
    plot_->yAxis->setNumberFormat(QStringLiteral("gb"));
  } else {
    plot_->yAxis->setTicker(QSharedPointer<QCPAxisTicker>::create());
    plot_->yAxis->setNumberFormat(QStringLiteral("gbd"));
  }
  resetView();
}

void LossChart::setEmptyMessage(const QString& text) {
  emptyHint_->setText(text);
  updateEmptyHint();
  plot_->replot();
}

void LossChart::updateEmptyHint() {
  const bool empty = !hasData();
  emptyHint_->setVisible(empty);
  plot_->legend->setVisible(!shown_.empty());
}

bool LossChart::hasData() const {
  return std::any_of(shown_.begin(), shown_.end(),
                     [](const Shown& s) { return !s.graph->data()->isEmpty(); });
}

QString LossChart::exportTo(const QString& path) {
  hover_->hide();
  // The on-screen size, so the figure looks like what the user saw; a sensible paper size when
  // the chart has never been laid out (exports from tests or from the command line).
  QSize size = plot_->size();
  if (!plot_->isVisible() || size.width() < 300 || size.height() < 200) size = QSize(960, 600);
  return exportChart(*plot_, path, size, tr("Training loss"));
}

int LossChart::graphCount() const {
  return plot_->graphCount();
}

QCPGraph* LossChart::graphOfRun(std::int64_t run_id) const {
  for (const auto& s : shown_)
    if (s.series.run_id == run_id) return s.graph;
  return nullptr;
}

QString LossChart::labelOf(const QCPGraph& graph) const {
  for (const auto& s : shown_)
    if (s.graph == &graph) return s.series.label;
  return graph.name();
}

}  // namespace optiscope::ui
