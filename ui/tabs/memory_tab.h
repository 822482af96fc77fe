#pragma once
// Memory: for one run, a timeline stacked by category (device categories above, host-side paged
// state in a strip of its own below, so it is never read as device memory); for every checked
// run, its peak split by category side by side, the device budget drawn across, OOMs marked.
#include "tabs/chart_tab.h"

class QComboBox;
class QLabel;
class QMouseEvent;

namespace optiscope::ui {

class MemoryTab : public ChartTab {
  Q_OBJECT

 public:
  explicit MemoryTab(QWidget* parent = nullptr);
  unsigned needs() const override { return RunDataCache::kSteps | RunDataCache::kMemory; }
  void showRuns(const std::vector<RunData>& runs) override;
  void resetView() override;

  QCustomPlot& timelinePlot() { return *timeline_; }
  QCustomPlot& hostPlot() { return *host_; }
  QCustomPlot& peaksPlot() { return *peaks_; }
  /// Chooses the run the timeline shows (for a run over several ranks, which rank's).
  void setTimelineRun(std::int64_t run_id, int rank = 0);

 private:
  const RunData* timelineRun() const;
  void drawTimeline();
  void drawPeaks();
  void showSampleTip(QMouseEvent* event);

  QCustomPlot* timeline_;
  QCustomPlot* host_;
  QCustomPlot* peaks_;
  QComboBox* run_;
  QLabel* legendNote_;
  std::vector<RunData> runs_;  // one per run, or per rank of a run over several ranks
};

}  // namespace optiscope::ui
