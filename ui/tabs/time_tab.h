#pragma once
// Time: step time over the run for every checked run (warm-up steps as markers of their own, off
// the autoscale), and per variant the median step split by phase (forward, backward, optimizer,
// the rest) next to tokens per second and the total time.
#include <QVector>

#include "tabs/chart_tab.h"

class QCPGraph;
class QCPItemText;

namespace optiscope::ui {

class HoverReadout;
class LevelOfDetail;

class TimeTab : public ChartTab {
  Q_OBJECT

 public:
  explicit TimeTab(QWidget* parent = nullptr);
  unsigned needs() const override { return RunDataCache::kSteps; }
  void showRuns(const std::vector<RunData>& runs) override;
  void resetView() override;

  QCustomPlot& stepTimePlot() { return *steps_; }
  QCustomPlot& phasePlot() { return *phases_; }
  QCustomPlot& throughputPlot() { return *throughput_; }
  /// The markers of warm-up steps (off the autoscale), one graph per run that has any.
  const std::vector<QCPGraph*>& warmUpGraphs() const { return warmUpGraphs_; }

 private:
  struct WarmUp {
    QCPGraph* graph;
    QVector<double> steps;
    QVector<double> ms;  // the real times; the graph holds them clamped to the top of the axis
  };
  void placeWarmUps();

  QCustomPlot* steps_;
  QCustomPlot* phases_;
  QCustomPlot* throughput_;
  HoverReadout* hover_;
  LevelOfDetail* stepsLod_;
  std::vector<RunData> runs_;
  std::vector<WarmUp> warmUps_;
  std::vector<QCPGraph*> warmUpGraphs_;
  QCPItemText* warmUpNote_ = nullptr;
};

}  // namespace optiscope::ui
