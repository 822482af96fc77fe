#pragma once
// Fit ladder: for the checked runs of a fit ladder (optiscope-cli ladder, File > New fit ladder),
// each rung's measured peak demand stacked by category against the device budget, with whether it
// fits, and beside it each rung's median step time: what each memory trick saves and what it costs.
#include "tabs/chart_tab.h"

class QLabel;

namespace optiscope::ui {

class LadderTab : public ChartTab {
  Q_OBJECT

 public:
  explicit LadderTab(QWidget* parent = nullptr);
  unsigned needs() const override { return RunDataCache::kSteps | RunDataCache::kMemory; }
  void showRuns(const std::vector<RunData>& runs) override;
  void resetView() override;

  QCustomPlot& memoryPlot() { return *memory_; }
  QCustomPlot& timePlot() { return *time_; }
  /// True when the checked runs hold rungs of a ladder (the report then shows the ladder).
  bool hasRungs() const { return !rungs_.empty(); }
  /// The rungs as CSV: rung, variant, outcome, peak demand and its categories in bytes, median ms.
  QString dataCsv() const override;

 private:
  void drawMemory();
  void drawTime();

  QCustomPlot* memory_;
  QCustomPlot* time_;
  QLabel* note_;
  std::vector<RunData> rungs_;  // the checked ladder runs, in rung order
};

}  // namespace optiscope::ui
