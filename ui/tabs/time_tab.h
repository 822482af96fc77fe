#pragma once
// Time: step time over the run for every checked run, and per variant the median step split by
// phase (forward, backward, optimizer, the rest) next to tokens per second and the total time.
#include "tabs/chart_tab.h"

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

 private:
  QCustomPlot* steps_;
  QCustomPlot* phases_;
  QCustomPlot* throughput_;
  HoverReadout* hover_;
  LevelOfDetail* stepsLod_;
  std::vector<RunData> runs_;
};

}  // namespace optiscope::ui
