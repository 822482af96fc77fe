#pragma once
// File > New fit ladder: a model, a device budget and the run length; the rungs are the standard
// ladder of spec/fit_ladder.h (each adds one memory trick), listed in the dialog so the user sees
// what will run.
#include <QDialog>

#include "spec/fit_ladder.h"

class QComboBox;
class QDoubleSpinBox;
class QLineEdit;
class QSpinBox;

namespace optiscope::ui {

class NewLadderDialog : public QDialog {
  Q_OBJECT

 public:
  NewLadderDialog(const QString& defaultStorePath, QWidget* parent = nullptr);

  /// The ladder as filled in.
  LadderSpec ladder() const;
  QString storePath() const;
  /// Sets the form's fields (tests, scripted use).
  void setFields(const QString& preset, double budgetGiB, int steps, int batch, int seqLen,
                 const QString& precision, const QString& device);

 private:
  QComboBox* preset_;
  QDoubleSpinBox* budget_;
  QSpinBox* steps_;
  QSpinBox* batch_;
  QSpinBox* seqLen_;
  QComboBox* precision_;
  QComboBox* device_;
  QLineEdit* store_;
};

}  // namespace optiscope::ui
