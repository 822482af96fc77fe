#pragma once
// The Optiscope window: runs panel on the left, charts in the middle, one progress row per
// comparison being recorded at the bottom. It owns the read-only store connection that every
// view reads; comparison workers write the store through connections of their own.
#include <QMainWindow>
#include <memory>
#include <vector>

#include "engine/comparison_runner.h"
#include "spec/run_spec.h"

class QAction;
class QLabel;
class QMenu;
class QTabWidget;
class QTimer;
class QTreeView;
class QVBoxLayout;

namespace optiscope {
class Store;
}

namespace optiscope::ui {

class ComparisonProgress;
class ComparisonWorker;
class LossChart;
class RunDetailsView;
class RunsModel;

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  explicit MainWindow(QWidget* parent = nullptr);
  ~MainWindow() override;

  /// Opens a store read-only and shows it. On failure says why in a message box, leaves the
  /// current store open and returns false; the file is never written.
  bool openStore(const QString& path);
  /// Records a comparison into the store at `storePath` (created if needed) and shows it live.
  void startComparison(const ComparisonSpec& spec, const QString& storePath);
  bool isComparing() const { return !recordings_.empty(); }
  /// Cancels every comparison and waits for their threads (used when quitting).
  void cancelComparisonsAndWait();

  QString storePath() const;
  const Store* store() const { return store_.get(); }
  RunsModel& runsModel() { return *runsModel_; }
  LossChart& lossChart() { return *lossChart_; }

  /// Where File > New comparison proposes to record: the open store, else a new file.
  QString defaultStoreForNewComparison() const;

 public slots:
  void showOpenStoreDialog();
  void showNewComparisonDialog();
  void reloadStore();

 signals:
  /// The last running comparison ended (finished, cancelled or failed).
  void comparisonsFinished();
  void storeOpened(const QString& path);

 protected:
  void closeEvent(QCloseEvent* event) override;
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;

 private:
  struct Recording {
    ComparisonWorker* worker;
    ComparisonProgress* progress;
  };

  void createActions();
  void createMenus();
  void createRunsPanel();
  void createCentralArea();
  void setStore(std::unique_ptr<Store> store);
  void syncCharts();
  void showDetailsOf(const QModelIndex& index);
  void refreshDetails();
  void updateActions();
  void updateStatus();
  void rebuildRecentMenu();
  void exportChart(const QString& suffix);
  void exportCsv();
  bool recordsIntoOpenStore(const ComparisonWorker& worker) const;
  void onRunStarted(ComparisonWorker* worker, const RunProgress& progress);
  void onStepWritten(ComparisonWorker* worker, const RunProgress& progress);
  void onRunFinished(ComparisonWorker* worker);
  void onComparisonEnded(ComparisonWorker* worker, const QString& summary);
  void showError(const QString& title, const QString& text, bool modal);

  std::unique_ptr<Store> store_;
  RunsModel* runsModel_;
  QTreeView* runsView_ = nullptr;
  RunDetailsView* details_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  LossChart* lossChart_ = nullptr;
  QWidget* progressPanel_ = nullptr;
  QVBoxLayout* progressLayout_ = nullptr;
  QLabel* storeLabel_ = nullptr;
  // Coalesces live chart refreshes: at most one redraw per interval (20 per second).
  QTimer* liveRefresh_ = nullptr;
  std::vector<Recording> recordings_;
  // A comparison started into a file that does not exist yet: opened once the engine created it.
  QString openWhenCreated_;

  QMenu* recentMenu_ = nullptr;
  QAction* openAct_ = nullptr;
  QAction* newComparisonAct_ = nullptr;
  QAction* exportPngAct_ = nullptr;
  QAction* exportSvgAct_ = nullptr;
  QAction* exportPdfAct_ = nullptr;
  QAction* exportCsvAct_ = nullptr;
  QAction* reloadAct_ = nullptr;
  QAction* resetViewAct_ = nullptr;
  QAction* quitAct_ = nullptr;
};

}  // namespace optiscope::ui
