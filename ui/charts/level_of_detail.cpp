#include "charts/level_of_detail.h"

#include <qcustomplot.h>

#include <algorithm>
#include <cmath>

namespace optiscope::ui {

void decimateMinMax(const QVector<double>& keys, const QVector<double>& values, double lower, double upper,
                    int columns, QVector<double>& outKeys, QVector<double>& outValues) {
  outKeys.clear();
  outValues.clear();
  if (keys.isEmpty()) return;
  const auto first = std::lower_bound(keys.begin(), keys.end(), lower);
  const auto last = std::upper_bound(keys.begin(), keys.end(), upper);
  // One point beyond each edge, so the line runs out of the visible area instead of stopping short.
  const qsizetype begin = std::max<qsizetype>(0, (first - keys.begin()) - 1);
  const qsizetype end = std::min<qsizetype>(keys.size(), (last - keys.begin()) + 1);
  const double width = std::max(upper - lower, 1e-300);
  outKeys.reserve(4 * columns + 4);
  outValues.reserve(4 * columns + 4);
  qsizetype i = begin;
  while (i < end) {
    const int column = static_cast<int>(std::floor((keys[i] - lower) / width * columns));
    // The points of this column: [i, j).
    qsizetype j = i + 1;
    while (j < end && static_cast<int>(std::floor((keys[j] - lower) / width * columns)) == column) ++j;
    if (j - i <= 4) {
      for (qsizetype k = i; k < j; ++k) {
        outKeys.push_back(keys[k]);
        outValues.push_back(values[k]);
      }
    } else {
      qsizetype lo = -1;
      qsizetype hi = -1;
      bool gap = false;
      for (qsizetype k = i; k < j; ++k) {
        const double v = values[k];
        if (std::isnan(v)) {
          gap = true;
          continue;
        }
        if (lo < 0 || v < values[lo]) lo = k;
        if (hi < 0 || v > values[hi]) hi = k;
      }
      // First, extremes in key order, last: the column's vertical span and its links to the neighbours.
      qsizetype picks[4] = {i, std::min(lo, hi), std::max(lo, hi), j - 1};
      qsizetype previous = -1;
      for (qsizetype k : picks) {
        if (k < 0 || k == previous) continue;
        outKeys.push_back(keys[k]);
        outValues.push_back(values[k]);
        previous = k;
      }
      if (gap) {
        // Keep a break in the line where the column held a gap (a diverged step).
        outKeys.push_back(keys[j - 1]);
        outValues.push_back(std::nan(""));
      }
    }
    i = j;
  }
}

LevelOfDetail::LevelOfDetail(QCustomPlot& plot) : QObject(&plot), plot_(plot) {
  connect(plot.xAxis, qOverload<const QCPRange&>(&QCPAxis::rangeChanged), this, &LevelOfDetail::update);
  connect(&plot, &QCustomPlot::beforeReplot, this, [this] {
    if (plot_.axisRect()->width() != lastWidth_) update();
  });
}

void LevelOfDetail::setData(QCPGraph* graph, QVector<double> keys, QVector<double> values) {
  graph->setAdaptiveSampling(false);  // decimated here; QCustomPlot's own pass would only cost time
  if (keys.size() > kThreshold) {
    // A decimated long curve is a zigzag of min/max columns. Stroked wider than one pixel it becomes
    // a huge self-intersecting polygon for the raster engine (about 1 frame/s on a 2-core machine);
    // one pixel wide it is drawn line by line.
    QPen pen = graph->pen();
    pen.setWidthF(1.0);
    graph->setPen(pen);
  }
  auto it = std::find_if(series_.begin(), series_.end(), [&](const Series& s) { return s.graph == graph; });
  if (it == series_.end()) {
    series_.push_back({graph, std::move(keys), std::move(values)});
    it = series_.end() - 1;
  } else {
    it->keys = std::move(keys);
    it->values = std::move(values);
  }
  apply(*it, true);
}

void LevelOfDetail::showAll() {
  for (auto& s : series_) apply(s, true);
}

void LevelOfDetail::clear() {
  series_.clear();
}

int LevelOfDetail::fullCount(const QCPGraph* graph) const {
  for (const auto& s : series_)
    if (s.graph == graph) return static_cast<int>(s.keys.size());
  return 0;
}

void LevelOfDetail::update() {
  const QCPRange r = plot_.xAxis->range();
  const int w = plot_.axisRect()->width();
  if (r.lower == lastLower_ && r.upper == lastUpper_ && w == lastWidth_) return;
  for (auto& s : series_) apply(s, false);
}

void LevelOfDetail::apply(Series& s, bool whole) {
  QCPRange r = plot_.xAxis->range();
  lastLower_ = r.lower;
  lastUpper_ = r.upper;
  lastWidth_ = plot_.axisRect()->width();
  // The whole data: what rescaling the axes must see (it reads the graph's points).
  if (whole && !s.keys.isEmpty()) r = QCPRange(s.keys.front(), s.keys.back());
  if (s.keys.size() <= kThreshold) {
    s.graph->setData(s.keys, s.values, true);
    return;
  }
  // A plot not laid out yet (exports, tests) decimates for a typical figure width.
  const int columns = std::max(lastWidth_ > 50 ? lastWidth_ : 1000, 100);
  QVector<double> k;
  QVector<double> v;
  decimateMinMax(s.keys, s.values, r.lower, r.upper, columns, k, v);
  s.graph->setData(k, v, true);
}

}  // namespace optiscope::ui
