#pragma once
// What the window shows while no store is open, a newcomer's first start above all: a sentence
// saying what a store is, and buttons to open the sample recording shipped with Optiscope, record
// a new comparison, or open a store file.
#include <QFrame>

class QLabel;
class QPushButton;

namespace optiscope::ui {

class FirstStartOffer : public QFrame {
  Q_OBJECT

 public:
  /// `samplePath` is sampleStorePath(); when empty, the sample button is not shown.
  explicit FirstStartOffer(const QString& samplePath, QWidget* parent = nullptr);

  QPushButton& sampleButton() { return *sample_; }
  QPushButton& newComparisonButton() { return *newComparison_; }
  QPushButton& openButton() { return *open_; }
  QString text() const;

 signals:
  void openSampleRequested();
  void newComparisonRequested();
  void openStoreRequested();

 private:
  QLabel* text_;
  QPushButton* sample_;
  QPushButton* newComparison_;
  QPushButton* open_;
};

}  // namespace optiscope::ui
