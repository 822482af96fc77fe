#pragma once
// The learning-curve chart: loss against step, one line per checked run. It reads the steps from
// the store itself, all of them when a run is first shown and only the new ones afterwards, so a
// chart of a live comparison costs one small query per refresh.
#include <QWidget>
#include <cstdint>
#include <vector>

#include "charts/chart_series.h"

class QCustomPlot;
class QCPGraph;
class QCPItemText;
class QCheckBox;

namespace optiscope {
class Store;
}

namespace optiscope::ui {

class HoverReadout;

class LossChart : public QWidget {
  Q_OBJECT

 public:
  explicit LossChart(QWidget* parent = nullptr);

  /// The store the steps come from; not owned. nullptr empties the chart.
  void setStore(const Store* store);
  /// Shows exactly these runs, in this legend order: runs already shown keep their data.
  void setSeries(const std::vector<ChartSeries>& series);
  /// Reads the steps written since the last read, for every run shown (the live view).
  void appendNewSteps();
  /// What the empty chart says (e.g. how to open a store).
  void setEmptyMessage(const QString& text);

  /// Exports to .png, .svg or .pdf; returns an empty string or the error for the user.
  QString exportTo(const QString& path);
  bool hasData() const;

  QCustomPlot& plot() { return *plot_; }
  int graphCount() const;
  /// The graph of a run, or nullptr when the run is not shown.
  QCPGraph* graphOfRun(std::int64_t run_id) const;

 public slots:
  /// Back to the whole data, and follow new data again.
  void resetView();

 private:
  struct Shown {
    ChartSeries series;
    QCPGraph* graph = nullptr;
    std::int64_t last_step = 0;
  };

  void readNewSteps(Shown& shown);
  void applyLook(const Shown& shown);
  void rescaleToData();
  void updateEmptyHint();
  void setLogScale(bool on);
  QString labelOf(const QCPGraph& graph) const;

  QCustomPlot* plot_;
  QCPItemText* emptyHint_;
  QCheckBox* logScale_;
  HoverReadout* hover_;
  const Store* store_ = nullptr;
  std::vector<Shown> shown_;
  // The view follows new data until the user zooms or pans; "Reset view" turns following back on.
  bool followData_ = true;
  bool rescaling_ = false;
};

}  // namespace optiscope::ui
