#pragma once
// A tab of charts over the checked runs. The main window owns the run data and hands each tab the
// runs when the tab is shown or the data grew; a tab redraws from them and keeps no store access
// of its own. Every plot of a tab is listed with a file-friendly name for exports.
#include <QString>
#include <QWidget>
#include <vector>

#include "data/run_data.h"

class QCustomPlot;

namespace optiscope::ui {

struct NamedPlot {
  QString name;  // e.g. "memory-peaks": export file names
  QCustomPlot* plot;
};

class ChartTab : public QWidget {
  Q_OBJECT

 public:
  explicit ChartTab(QWidget* parent = nullptr) : QWidget(parent) {}

  /// Which rows the tab draws (RunDataCache::Need flags).
  virtual unsigned needs() const = 0;
  /// Redraws everything from these runs (the checked runs, in legend order).
  virtual void showRuns(const std::vector<RunData>& runs) = 0;
  /// Every plot of the tab, in reading order.
  const std::vector<NamedPlot>& plots() const { return plots_; }
  /// Shows all the data again.
  virtual void resetView();
  /// The figures the tab's charts draw, as CSV, for tabs that offer them (their charts' context
  /// menus then have "Export data as CSV…"); empty otherwise.
  virtual QString dataCsv() const { return {}; }

 protected:
  /// Creates a plot in the chart style, registers it for export and palette changes, and gives it a
  /// context menu (reset view, export as PNG/SVG/PDF).
  QCustomPlot* addPlot(const QString& name, const QString& title);
  void changeEvent(QEvent* event) override;
  void replotAll();

 private:
  void exportPlot(QCustomPlot* plot, const QString& name, const QString& suffix);
  void exportCsv(const QString& name);
  std::vector<NamedPlot> plots_;
};

}  // namespace optiscope::ui
