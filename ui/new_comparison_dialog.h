#pragma once
// File > New comparison: what to train, which optimizer variants to compare, and which store file
// receives the runs. Starts from default_comparison(), the comparison the product opens with.
#include <QDialog>

#include "spec/run_spec.h"

class QComboBox;
class QDoubleSpinBox;
class QDialogButtonBox;
class QLineEdit;
class QListWidget;
class QSpinBox;

namespace optiscope::ui {

class NewComparisonDialog : public QDialog {
  Q_OBJECT

 public:
  NewComparisonDialog(const QString& defaultStorePath, QWidget* parent = nullptr);

  /// The comparison as filled in; valid once the dialog was accepted.
  ComparisonSpec spec() const;
  QString storePath() const;
  /// Fills the form from a spec (e.g. to repeat an earlier comparison).
  void setSpec(const ComparisonSpec& spec);

  void accept() override;

 private:
  /// Every reason the form cannot run yet, one sentence each.
  QStringList problems() const;
  void browseStore();
  QString suggestedName() const;
  void applyRecipe(int index);

  QLineEdit* name_;
  QComboBox* preset_;
  QListWidget* optims_;
  QSpinBox* steps_;
  QSpinBox* batch_;
  QSpinBox* seqLen_;
  QLineEdit* lr_;
  QComboBox* precision_;
  QComboBox* device_;
  QComboBox* dataset_;
  QDoubleSpinBox* budget_;
  QSpinBox* lossChunks_;  // 0: the plain loss; N: the fused linear + cross-entropy in N slices
  QComboBox* recipe_;
  QLineEdit* store_;
  QDialogButtonBox* buttons_;
  RunSpec base_;  // keeps the settings the form does not show (warm-up, schedule, seed, ...)
};

}  // namespace optiscope::ui
