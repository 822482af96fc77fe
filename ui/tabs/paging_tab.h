#pragma once
// Paging: unified-memory traffic of paged optimizers. Bytes moved each way per step (the page
// manager's own count against what CUPTI recorded), cumulative bytes per run, page faults with the
// capture's completeness (recorded / known) on a second axis, the causes of the migrations, and the
// paged state resident on the device by the page manager's ledger against what the migrations
// measured (a disagreement over 1 % is marked).
// Runs that captured nothing (CPU runs, no CUPTI) show their capture note instead of empty plots.
#include "tabs/chart_tab.h"

class QComboBox;
class QLabel;
class QStackedLayout;

namespace optiscope::ui {

class PagingTab : public ChartTab {
  Q_OBJECT

 public:
  explicit PagingTab(QWidget* parent = nullptr);
  unsigned needs() const override { return RunDataCache::kSteps | RunDataCache::kPaging; }
  void showRuns(const std::vector<RunData>& runs) override;
  void resetView() override;

  /// True when no checked run has paging rows and the notes are shown instead of the plots.
  bool showsNotes() const;
  QString noteText() const;
  QCustomPlot& perStepPlot() { return *perStep_; }
  QCustomPlot& cumulativePlot() { return *cumulative_; }
  QCustomPlot& faultsPlot() { return *faults_; }
  QCustomPlot& causesPlot() { return *causes_; }
  QCustomPlot& residencyPlot() { return *residency_; }
  /// The sentence under the residency chart: agreement of ledger and migrations, or why unmeasured.
  QString residencyVerdict() const { return verdict_; }

 private:
  void drawRun();
  void drawCumulative();
  void drawResidency(const struct RunData& run);

  QCustomPlot* perStep_;
  QCustomPlot* cumulative_;
  QCustomPlot* faults_;
  QCustomPlot* causes_;
  QCustomPlot* residency_;
  QString verdict_;
  QComboBox* run_;
  QLabel* notes_;
  QStackedLayout* stack_;
  std::vector<RunData> runs_;
};

}  // namespace optiscope::ui
