#pragma once
// The summary table of the checked runs, with Copy (Ctrl+C copies the selected rows, or all).
#include "tabs/chart_tab.h"

class QTableView;

namespace optiscope::ui {

class SummaryModel;

class SummaryTab : public ChartTab {
  Q_OBJECT

 public:
  explicit SummaryTab(QWidget* parent = nullptr);
  unsigned needs() const override { return RunDataCache::kSteps | RunDataCache::kMemory; }
  void showRuns(const std::vector<RunData>& runs) override;
  SummaryModel& model() { return *model_; }
  QTableView& view() { return *view_; }
  /// Puts the selected rows (all rows when none is selected) on the clipboard as TSV.
  void copy();

 private:
  SummaryModel* model_;
  QTableView* view_;
};

}  // namespace optiscope::ui
