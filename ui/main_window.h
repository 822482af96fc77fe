#pragma once
// The Optiscope window: runs panel on the left, charts in the middle, one progress row per
// comparison being recorded at the bottom. It owns the read-only store connection that every
// view reads; comparison workers write the store through connections of their own.
#include <QDateTime>
#include <QMainWindow>
#include <functional>
#include <memory>
#include <vector>

#include "data/run_data.h"

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

class CalculatorTab;
class ChartTab;
class ComparisonProgress;
class ComparisonWorker;
class FirstStartOffer;
class LearningTab;
class MemoryTab;
class PagingTab;
class RunDetailsView;
class RunsModel;
class SummaryTab;
class TimeTab;

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
  LearningTab& learningTab() { return *learning_; }
  MemoryTab& memoryTab() { return *memory_; }
  PagingTab& pagingTab() { return *paging_; }
  TimeTab& timeTab() { return *time_; }
  SummaryTab& summaryTab() { return *summary_; }
  CalculatorTab& calculatorTab() { return *calculator_; }
  QTabWidget& tabs() { return *tabs_; }
  /// Shown while no store is open: the sample recording, a new comparison, or a store file.
  FirstStartOffer& firstStartOffer() { return *firstStart_; }
  const std::vector<RunData>& shownRuns() const { return cache_.runs(); }

  /// Scripted use (--export-charts, tests): errors go to stderr instead of message boxes, and an
  /// older store is never migrated.
  void setInteractive(bool on) { interactive_ = on; }
  /// Asked when an older store needs migrating; true means "upgrade it". The default asks the user.
  void setMigrationPrompt(std::function<bool(const QString& path, int version)> prompt) {
    migrationPrompt_ = std::move(prompt);
  }
  /// Renders every chart of every tab (PNG, SVG, PDF) and the report (PNG, PDF) into `dir`.
  /// Returns the problems, one sentence each; empty on success.
  QStringList exportAllCharts(const QString& dir);
  /// The one-page report of the checked runs as .png or .pdf; empty string or the error.
  QString exportReport(const QString& path);
  /// Checks whether the open store's files changed and reads what is new (the poll timer's work).
  void pollStore();

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
  void changeEvent(QEvent* event) override;
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
  /// Reads what the current tab needs and redraws it; other tabs redraw when shown.
  void refreshCharts(bool runsChanged);
  ChartTab* currentChartTab() const;
  void exportCurrentChart(const QString& suffix);
  void exportReportDialog();
  void exportChartsDialog();
  QDateTime storeStamp() const;
  void showDetailsOf(const QModelIndex& index);
  void refreshDetails();
  void updateActions();
  void updateStatus();
  void rebuildRecentMenu();
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
  FirstStartOffer* firstStart_ = nullptr;
  LearningTab* learning_ = nullptr;
  MemoryTab* memory_ = nullptr;
  PagingTab* paging_ = nullptr;
  TimeTab* time_ = nullptr;
  SummaryTab* summary_ = nullptr;
  CalculatorTab* calculator_ = nullptr;
  RunDataCache cache_;
  // Tabs whose picture is older than the data; redrawn when shown.
  std::vector<ChartTab*> stale_;
  // Another process (the CLI) may be writing the store: its files are polled for growth.
  QTimer* storePoll_ = nullptr;
  QDateTime lastStamp_;
  qint64 lastSize_ = -1;
  bool interactive_ = true;
  std::function<bool(const QString&, int)> migrationPrompt_;
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
  QAction* exportReportAct_ = nullptr;
  QAction* exportAllAct_ = nullptr;
  QAction* reloadAct_ = nullptr;
  QAction* resetViewAct_ = nullptr;
  QAction* quitAct_ = nullptr;
};

}  // namespace optiscope::ui
