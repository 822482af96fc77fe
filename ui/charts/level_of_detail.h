#pragma once
// Level of detail for long curves: a graph keeps its full data here and QCustomPlot gets at most
// a few points per pixel column of the visible range (first, min, max, last of each column), so a
// 100 k-step run pans as fast as a short one and no spike is lost. The graphs are re-decimated
// whenever the key axis range or the plot's width changes.
#include <QObject>
#include <QVector>
#include <vector>

class QCustomPlot;
class QCPGraph;

namespace optiscope::ui {

/// Keeps, per pixel column of [lower, upper] (`columns` of them), the first, lowest, highest and
/// last point, in key order; points outside the range but next to it are kept so lines reach the
/// edges. Keys must be sorted. NaN values (gaps) are kept as gaps.
void decimateMinMax(const QVector<double>& keys, const QVector<double>& values, double lower, double upper,
                    int columns, QVector<double>& outKeys, QVector<double>& outValues);

class LevelOfDetail : public QObject {
  Q_OBJECT

 public:
  /// Below this many points a graph gets its data as is.
  static constexpr int kThreshold = 4000;

  explicit LevelOfDetail(QCustomPlot& plot);
  /// Sets the graph's data through the level of detail (instead of QCPGraph::setData).
  void setData(QCPGraph* graph, QVector<double> keys, QVector<double> values);
  /// Gives every graph its whole data range, decimated: call before rescaling the axes to the data.
  void showAll();
  /// Forgets every graph (call before QCustomPlot::clearGraphs()).
  void clear();
  /// Full data of a graph, as given to setData.
  int fullCount(const QCPGraph* graph) const;

 private:
  struct Series {
    QCPGraph* graph;
    QVector<double> keys;
    QVector<double> values;
  };
  void update();
  void apply(Series& s, bool whole);

  QCustomPlot& plot_;
  std::vector<Series> series_;
  double lastLower_ = 0;
  double lastUpper_ = 0;
  int lastWidth_ = 0;
};

}  // namespace optiscope::ui
