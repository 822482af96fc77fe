#pragma once
// One row per comparison being recorded: its name, a bar for the whole comparison, the latest
// step in words ("adamw_8bit: step 57/120, loss 1.234") and a Cancel button.
#include <QWidget>

#include "engine/comparison_runner.h"

class QLabel;
class QProgressBar;
class QPushButton;

namespace optiscope::ui {

class ComparisonProgress : public QWidget {
  Q_OBJECT

 public:
  explicit ComparisonProgress(const QString& comparisonName, QWidget* parent = nullptr);

  void showRunStarted(const RunProgress& progress);
  void showStep(const RunProgress& progress);
  void showCancelling();

  /// Overall progress in [0, 1]: finished runs count whole, the current one by its steps.
  static double overallFraction(const RunProgress& progress);
  QString statusText() const;
  int barValue() const;

 signals:
  void cancelRequested();

 private:
  QLabel* name_;
  QProgressBar* bar_;
  QLabel* status_;
  QPushButton* cancel_;
};

}  // namespace optiscope::ui
