#pragma once
// Learning curves: loss against step, tokens seen or training time, smoothed (the raw curve kept
// faint behind), with evaluation loss as points, and the difference between two chosen variants
// in a plot below that shares the x range.
#include <QHash>

#include "tabs/chart_tab.h"

class QComboBox;
class QCheckBox;
class QDoubleSpinBox;
class QCPGraph;
class QCPItemText;

namespace optiscope::ui {

class HoverReadout;
class LevelOfDetail;

class LearningTab : public ChartTab {
  Q_OBJECT

 public:
  enum class XAxis { step, tokens, seconds };

  explicit LearningTab(QWidget* parent = nullptr);
  unsigned needs() const override { return RunDataCache::kSteps; }
  void showRuns(const std::vector<RunData>& runs) override;
  void resetView() override;

  void setXAxis(XAxis x);
  XAxis xAxis() const;
  /// 0 (none) to 0.99; kept between starts by the main window.
  void setSmoothing(double weight);
  double smoothing() const;

  QCustomPlot& lossPlot() { return *loss_; }
  QCustomPlot& diffPlot() { return *diff_; }
  /// How many points a graph holds before level-of-detail decimation.
  int fullPointCount(const QCPGraph* graph) const;
  /// The smoothed curve of a run (or the raw one when smoothing is off); nullptr if not shown.
  QCPGraph* graphOfRun(std::int64_t run_id) const;
  QCPGraph* rawGraphOfRun(std::int64_t run_id) const;
  QCPGraph* evalGraphOfRun(std::int64_t run_id) const;

 signals:
  void smoothingChanged(double weight);

 private:
  void redraw();
  void drawDifference();
  QString xLabel() const;
  std::vector<double> xValues(const RunData& run) const;

  QCustomPlot* loss_;
  QCustomPlot* diff_;
  QCPItemText* lossNote_;
  QCPItemText* diffNote_;
  QComboBox* x_;
  QDoubleSpinBox* smooth_;
  QCheckBox* showRaw_;
  QCheckBox* logY_;
  QComboBox* diffA_;
  QComboBox* diffB_;
  HoverReadout* hover_;
  LevelOfDetail* lossLod_;
  LevelOfDetail* diffLod_;
  std::vector<RunData> runs_;
  QHash<std::int64_t, QCPGraph*> smoothed_;
  QHash<std::int64_t, QCPGraph*> raw_;
  QHash<std::int64_t, QCPGraph*> eval_;
  bool followData_ = true;
};

}  // namespace optiscope::ui
