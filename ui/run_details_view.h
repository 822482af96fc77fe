#pragma once
// Below the runs tree: the selected run's settings and the numbers that sum it up, so a curve on
// the chart can be read together with what produced it.
#include <QWidget>
#include <cstdint>

class QLabel;

namespace optiscope {
class Store;
}

namespace optiscope::ui {

class RunDetailsView : public QWidget {
  Q_OBJECT

 public:
  explicit RunDetailsView(QWidget* parent = nullptr);

  /// Reads the run and its steps from the store and shows them.
  void showRun(const Store& store, std::int64_t run_id);
  void showNothing();
  std::int64_t shownRun() const { return runId_; }
  QString text() const;

 private:
  QLabel* label_;
  std::int64_t runId_ = 0;
};

}  // namespace optiscope::ui
