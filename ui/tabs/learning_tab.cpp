#include "tabs/learning_tab.h"

#include <qcustomplot.h>

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QSplitter>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>

#include "charts/chart_kit.h"
#include "charts/hover_readout.h"
#include "charts/level_of_detail.h"
#include "charts/paper_style.h"
#include "charts/smoothing.h"

namespace optiscope::ui {
namespace {

// Curves of close variants lie on top of each other (adamw_torch and adamw_8bit differ in the third
// decimal): each run gets a marker shape of its own, a few markers along its curve, and earlier
// runs are drawn wider beneath the later ones, so a covered curve still shows at both edges.
constexpr std::size_t kMarkersPerCurve = 8;
// A scatter skip longer than any run: the curve graph itself draws one marker only.
constexpr int kNoMoreMarkers = 1 << 28;

struct CurveLook {
  double width;
  QCPScatterStyle::ScatterShape marker;
};

CurveLook curveLook(int index, int count, bool smoothing) {
  static constexpr QCPScatterStyle::ScatterShape kShapes[] = {
      QCPScatterStyle::ssCircle,    QCPScatterStyle::ssSquare,           QCPScatterStyle::ssTriangle,
      QCPScatterStyle::ssDiamond,   QCPScatterStyle::ssTriangleInverted, QCPScatterStyle::ssCrossSquare,
      QCPScatterStyle::ssPlusCircle};
  const double base = smoothing ? 2.0 : 1.0;
  const double wider = std::min(count - 1 - index, 2) * 0.7;
  return {base + std::max(0.0, wider), kShapes[static_cast<std::size_t>(index) % std::size(kShapes)]};
}

QVector<double> toQVector(const std::vector<double>& v) {
  return QVector<double>(v.begin(), v.end());
}

double finiteOrNaN(double v) {
  return std::isfinite(v) ? v : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace

LearningTab::LearningTab(QWidget* parent)
    : ChartTab(parent),
      loss_(addPlot(QStringLiteral("learning-curves"), tr("Training loss"))),
      diff_(addPlot(QStringLiteral("loss-difference"), tr("Loss difference"))),
      x_(new QComboBox(this)),
      smooth_(new QDoubleSpinBox(this)),
      showRaw_(new QCheckBox(tr("Raw"), this)),
      logY_(new QCheckBox(tr("Log"), this)),
      diffA_(new QComboBox(this)),
      diffB_(new QComboBox(this)) {
  x_->addItems({tr("step"), tr("tokens"), tr("time")});
  x_->setToolTip(tr("What the x axis counts: optimizer steps, tokens seen, or training time"));
  smooth_->setRange(0.0, 0.99);
  smooth_->setSingleStep(0.05);
  smooth_->setDecimals(2);
  smooth_->setValue(0.6);
  smooth_->setToolTip(tr("Exponential moving average weight, debiased as in TensorBoard (0 = off)"));
  showRaw_->setChecked(true);
  showRaw_->setToolTip(tr("Keep the unsmoothed curve, faint, behind the smoothed one"));
  logY_->setToolTip(tr("Logarithmic loss axis"));
  diffA_->setToolTip(tr("Difference = A − B, smoothed like the curves above"));
  diffB_->setToolTip(diffA_->toolTip());
  // Wide enough for the variant names: "adamw_t" and "paged_a" named nothing.
  for (QComboBox* c : {diffA_, diffB_}) c->setSizeAdjustPolicy(QComboBox::AdjustToContents);

  auto* bar = new QHBoxLayout;
  bar->setContentsMargins(6, 4, 6, 0);
  bar->addWidget(new QLabel(tr("x:"), this));
  bar->addWidget(x_);
  bar->addSpacing(12);
  bar->addWidget(new QLabel(tr("Smoothing:"), this));
  bar->addWidget(smooth_);
  bar->addWidget(showRaw_);
  bar->addWidget(logY_);
  bar->addSpacing(12);
  bar->addWidget(new QLabel(tr("Difference:"), this));
  bar->addWidget(diffA_);
  bar->addWidget(new QLabel(QStringLiteral("−"), this));
  bar->addWidget(diffB_);
  bar->addStretch(1);
  auto* split = new QSplitter(Qt::Vertical, this);
  split->addWidget(loss_);
  split->addWidget(diff_);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 1);
  split->setSizes({600, 200});
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addLayout(bar);
  layout->addWidget(split, 1);

  // The markers along the curves sit above every curve, so no later curve covers an earlier one's.
  loss_->addLayer(QStringLiteral("markers"), loss_->layer(QStringLiteral("main")), QCustomPlot::limAbove);
  loss_->yAxis->setLabel(tr("loss"));
  diff_->yAxis->setLabel(tr("Δ loss"));
  if (!eval_.isEmpty()) {
    // One legend entry for every run's evaluation points: the colour already says whose.
    QCPGraph* key = loss_->addGraph();
    key->setName(tr("evaluation loss"));
    key->setLineStyle(QCPGraph::lsNone);
    key->setPen(QPen(QColor(0x70, 0x70, 0x70)));
    key->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDiamond, QColor(0x70, 0x70, 0x70),
                                         colorsFor(palette()).background, 7));
  }
  loss_->xAxis->setLabel(xLabel());
  diff_->xAxis->setLabel(xLabel());
  lossNote_ = addPlotNote(*loss_);
  diffNote_ = addPlotNote(*diff_);
  linkXAxes({loss_, diff_});
  lossLod_ = new LevelOfDetail(*loss_);
  diffLod_ = new LevelOfDetail(*diff_);

  hover_ = new HoverReadout(*loss_, [this](const QCPGraph& graph, double key, double value) {
    const QString x = xAxis() == XAxis::step     ? tr("step %1").arg(static_cast<qint64>(key))
                      : xAxis() == XAxis::tokens ? tr("%L1 tokens").arg(static_cast<qint64>(key))
                                                 : tr("%1 s").arg(key, 0, 'f', 1);
    return tr("%1\n%2\nloss %3").arg(graph.name(), x).arg(value, 0, 'g', 5);
  });

  for (QCustomPlot* p : {loss_, diff_}) {
    connect(p, &QCustomPlot::mouseWheel, this, [this] { followData_ = false; });
    connect(p, &QCustomPlot::mousePress, this, [this] { followData_ = false; });
  }
  connect(x_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] {
    followData_ = true;
    redraw();
  });
  connect(smooth_, qOverload<double>(&QDoubleSpinBox::valueChanged), this, [this](double w) {
    redraw();
    emit smoothingChanged(w);
  });
  connect(showRaw_, &QCheckBox::toggled, this, &LearningTab::redraw);
  connect(logY_, &QCheckBox::toggled, this, [this](bool on) {
    loss_->yAxis->setScaleType(on ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
    loss_->yAxis->setTicker(on ? QSharedPointer<QCPAxisTicker>(new QCPAxisTickerLog)
                               : QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    resetView();
  });
  for (QComboBox* c : {diffA_, diffB_})
    connect(c, qOverload<int>(&QComboBox::activated), this, [this] {
      drawDifference();
      diff_->replot();
    });
}

void LearningTab::setXAxis(XAxis x) {
  x_->setCurrentIndex(static_cast<int>(x));
}

LearningTab::XAxis LearningTab::xAxis() const {
  return static_cast<XAxis>(x_->currentIndex());
}

void LearningTab::setSmoothing(double weight) {
  smooth_->setValue(weight);
}

double LearningTab::smoothing() const {
  return smooth_->value();
}

QString LearningTab::xLabel() const {
  switch (xAxis()) {
    case XAxis::step:
      return tr("step");
    case XAxis::tokens:
      return tr("tokens seen");
    case XAxis::seconds:
      return tr("training time (s)");
  }
  return {};
}

std::vector<double> LearningTab::xValues(const RunData& run) const {
  std::vector<double> x;
  x.reserve(run.steps.size());
  double sum = 0;
  for (const auto& s : run.steps) {
    switch (xAxis()) {
      case XAxis::step:
        x.push_back(static_cast<double>(s.step));
        break;
      case XAxis::tokens:
        x.push_back(sum += static_cast<double>(s.tokens));
        break;
      case XAxis::seconds:
        x.push_back((sum += s.step_ms) / 1000.0);
        break;
    }
  }
  return x;
}

void LearningTab::showRuns(const std::vector<RunData>& runs) {
  runs_ = runs;
  // Keep the chosen pair if both are still shown; otherwise the first two runs.
  const QVariant a = diffA_->currentData();
  const QVariant b = diffB_->currentData();
  for (QComboBox* c : {diffA_, diffB_}) {
    c->clear();
    for (const auto& r : runs_) c->addItem(r.look.label, QVariant::fromValue<qint64>(r.info.id));
  }
  const int ia = diffA_->findData(a);
  const int ib = diffB_->findData(b);
  diffA_->setCurrentIndex(ia >= 0 ? ia : 0);
  diffB_->setCurrentIndex(ib >= 0 ? ib : std::min(1, diffB_->count() - 1));
  redraw();
}

void LearningTab::redraw() {
  hover_->hide();
  lossLod_->clear();
  loss_->clearGraphs();
  smoothed_.clear();
  raw_.clear();
  eval_.clear();
  const double w = smooth_->value();
  const bool smoothing = w > 0.0;
  int index = 0;
  for (const auto& run : runs_) {
    const std::vector<double> x = xValues(run);
    std::vector<double> loss;
    loss.reserve(run.steps.size());
    for (const auto& s : run.steps) loss.push_back(finiteOrNaN(s.loss));
    QColor color = run.look.color;
    if (smoothing && showRaw_->isChecked()) {
      QCPGraph* raw = loss_->addGraph();
      // An opaque tint rather than a translucent pen: a long noisy curve decimated to min/max columns
      // is a dense zigzag, and translucent strokes of it cost the raster engine a hundred times more.
      // Mixed into the chart's background, light or dark: towards white it shone on a dark chart.
      const QColor bg = colorsFor(palette()).background;
      const QColor faint =
          QColor::fromRgbF(0.72 * bg.redF() + 0.28 * color.redF(), 0.72 * bg.greenF() + 0.28 * color.greenF(),
                           0.72 * bg.blueF() + 0.28 * color.blueF());
      raw->setPen(QPen(faint, 1.0, run.look.style));
      raw->setName(run.look.label);
      lossLod_->setData(raw, toQVector(x), toQVector(loss));
      raw->removeFromLegend();
      raw_.insert(run.info.id, raw);
    }
    QCPGraph* main = loss_->addGraph();
    const int ordinal = index++;
    const CurveLook look = curveLook(ordinal, static_cast<int>(runs_.size()), smoothing);
    main->setPen(QPen(color, look.width, run.look.style));
    // The curve's own marker serves its legend entry (and its first point); the markers along the
    // curve are a graph of their own, staggered so that curves on top of each other show all theirs.
    main->setScatterStyle(QCPScatterStyle(look.marker, QPen(color.darker(120), 1.2), color, 8));
    main->setScatterSkip(kNoMoreMarkers);
    main->setName(run.look.label);
    const std::vector<double> shown = smoothing ? debiasedEma(loss, w) : loss;
    lossLod_->setData(main, toQVector(x), toQVector(shown));
    QCPGraph* marks = loss_->addGraph();
    marks->setName(run.look.label);
    marks->setLineStyle(QCPGraph::lsNone);
    marks->setScatterStyle(QCPScatterStyle(look.marker, QPen(color.darker(120), 1.2), color, 8));
    marks->removeFromLegend();
    marks->setLayer(QStringLiteral("markers"));
    const std::size_t period = std::max<std::size_t>(1, x.size() / kMarkersPerCurve);
    for (std::size_t j = period * static_cast<std::size_t>(ordinal) / runs_.size() + period / 2; j < x.size();
         j += period)
      marks->addData(x[j], shown[j]);
    smoothed_.insert(run.info.id, main);
    if (!smoothing) raw_.insert(run.info.id, main);

    QVector<double> ex;
    QVector<double> ey;
    for (std::size_t i = 0; i < run.steps.size(); ++i)
      if (run.steps[i].eval_loss && std::isfinite(*run.steps[i].eval_loss)) {
        ex.push_back(x[i]);
        ey.push_back(*run.steps[i].eval_loss);
      }
    if (!ex.isEmpty()) {
      QCPGraph* eval = loss_->addGraph();
      eval->setLineStyle(QCPGraph::lsLine);
      QColor evalColor = run.look.color;
      evalColor.setAlpha(160);
      eval->setPen(QPen(evalColor, 1.0, Qt::DotLine));
      // Hollow: filled with the chart's background, white on a dark chart shone like a light.
      eval->setScatterStyle(
          QCPScatterStyle(QCPScatterStyle::ssDiamond, run.look.color, colorsFor(palette()).background, 7));
      eval->setName(tr("%1 (eval)").arg(run.look.label));
      eval->setData(ex, ey, true);
      eval->removeFromLegend();
      eval_.insert(run.info.id, eval);
    }
    // Where a run stopped early (OOM, failure), a cross marks its last step.
    if (run.info.outcome != Outcome::completed && run.info.outcome != Outcome::running && !x.empty()) {
      QCPGraph* end = loss_->addGraph();
      end->setLineStyle(QCPGraph::lsNone);
      end->setScatterStyle(
          QCPScatterStyle(QCPScatterStyle::ssCross, QPen(run.look.color, 2.5), Qt::NoBrush, 11));
      end->setName(run.look.label);
      end->removeFromLegend();
      const double last = smoothing ? debiasedEma(loss, w).back() : loss.back();
      end->addData(x.back(), last);
    }
  }
  loss_->xAxis->setLabel(xLabel());
  diff_->xAxis->setLabel(xLabel());
  lossNote_->setText(tr("Check runs in the Runs panel to plot their loss"));
  lossNote_->setVisible(runs_.empty());
  loss_->legend->setVisible(!runs_.empty());
  drawDifference();
  if (followData_) {
    lossLod_->showAll();
    diffLod_->showAll();
    rescaleAll(*diff_, true);
    rescaleAll(*loss_, false);
  }
  replotAll();
}

void LearningTab::drawDifference() {
  diffLod_->clear();
  diff_->clearGraphs();
  const auto find = [this](const QVariant& id) -> const RunData* {
    for (const auto& r : runs_)
      if (r.info.id == id.toLongLong()) return &r;
    return nullptr;
  };
  const RunData* a = find(diffA_->currentData());
  const RunData* b = find(diffB_->currentData());
  if (!a || !b || a == b) {
    diffNote_->setText(runs_.size() < 2 ? tr("Check two runs to see their difference")
                                        : tr("Choose two different runs above"));
    diffNote_->setVisible(true);
    diff_->legend->setVisible(false);
    return;
  }
  diffNote_->setVisible(false);
  // Steps of A that B also has, in order (both are sorted by step).
  const std::vector<double> xa = xValues(*a);
  std::vector<double> x;
  std::vector<double> d;
  std::size_t j = 0;
  for (std::size_t i = 0; i < a->steps.size(); ++i) {
    while (j < b->steps.size() && b->steps[j].step < a->steps[i].step) ++j;
    if (j == b->steps.size()) break;
    if (b->steps[j].step != a->steps[i].step) continue;
    x.push_back(xa[i]);
    d.push_back(finiteOrNaN(a->steps[i].loss - b->steps[j].loss));
  }
  const double w = smooth_->value();
  QCPGraph* g = diff_->addGraph();
  g->setPen(QPen(a->look.color, 1.8));
  // No fill under the curve: a translucent fill of a long noisy difference took half a second per frame.
  g->setName(tr("%1 − %2").arg(a->look.label, b->look.label));
  diffLod_->setData(g, toQVector(x), toQVector(w > 0 ? debiasedEma(d, w) : d));
  diff_->legend->setVisible(true);
}

void LearningTab::resetView() {
  followData_ = true;
  lossLod_->showAll();
  diffLod_->showAll();
  rescaleAll(*diff_, true);  // first: the loss plot's wider x range wins the linked axes
  rescaleAll(*loss_, false);
  replotAll();
}

QCPGraph* LearningTab::graphOfRun(std::int64_t run_id) const {
  return smoothed_.value(run_id, nullptr);
}

int LearningTab::fullPointCount(const QCPGraph* graph) const {
  const int n = lossLod_->fullCount(graph);
  return n > 0 ? n : diffLod_->fullCount(graph);
}

QCPGraph* LearningTab::rawGraphOfRun(std::int64_t run_id) const {
  return raw_.value(run_id, nullptr);
}

QCPGraph* LearningTab::evalGraphOfRun(std::int64_t run_id) const {
  return eval_.value(run_id, nullptr);
}

}  // namespace optiscope::ui
