#include "main_window.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QHeaderView>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QTimer>
#include <QTreeView>
#include <QVBoxLayout>
#include <algorithm>

#include <qcustomplot.h>

#include <QDebug>
#include <QDir>
#include <cstdio>

#include "charts/chart_export.h"
#include "charts/chart_series.h"
#include "comparison_progress.h"
#include "comparison_worker.h"
#include "first_start_offer.h"
#include "new_comparison_dialog.h"
#include "outcome_text.h"
#include "recent_files.h"
#include "report.h"
#include "run_details_view.h"
#include "runs_model.h"
#include "steps_csv.h"
#include "store/store.h"
#include "store_files.h"
#include "tabs/calculator_tab.h"
#include "tabs/learning_tab.h"
#include "tabs/memory_tab.h"
#include "tabs/paging_tab.h"
#include "tabs/summary_tab.h"
#include "tabs/time_tab.h"

namespace optiscope::ui {
namespace {

constexpr int kLiveRefreshMs = 100;  // 10 redraws per second at most
// How often the files of the open store are checked for growth by another process.
constexpr int kStorePollMs = 1000;

QString sameFile(const QString& path) {
  return QFileInfo(path).absoluteFilePath();
}

// The one local store file in a drag, if there is exactly one.
QString droppedStoreFile(const QMimeData* mime) {
  if (!mime || !mime->hasUrls() || mime->urls().size() != 1) return {};
  const QUrl url = mime->urls().front();
  if (!url.isLocalFile() || !looksLikeStoreFile(url.toLocalFile())) return {};
  return url.toLocalFile();
}

}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent), runsModel_(new RunsModel(this)) {
  qRegisterMetaType<optiscope::RunProgress>();
  qRegisterMetaType<optiscope::ComparisonResult>();
  qRegisterMetaType<optiscope::Outcome>();
  setWindowTitle(QStringLiteral("Optiscope"));
  setAcceptDrops(true);

  liveRefresh_ = new QTimer(this);
  liveRefresh_->setSingleShot(true);
  liveRefresh_->setInterval(kLiveRefreshMs);
  connect(liveRefresh_, &QTimer::timeout, this, [this] { refreshCharts(false); });
  storePoll_ = new QTimer(this);
  storePoll_->setInterval(kStorePollMs);
  connect(storePoll_, &QTimer::timeout, this, &MainWindow::pollStore);
  migrationPrompt_ = [this](const QString& path, int version) {
    return QMessageBox::question(this, tr("Upgrade store?"),
                                 tr("%1 was written by an older Optiscope (store version %2). To show it, "
                                    "Optiscope must upgrade it "
                                    "in place to version %3; older versions of Optiscope cannot read it "
                                    "afterwards.\n\nUpgrade it now? "
                                    "(No leaves the file untouched.)")
                                     .arg(QDir::toNativeSeparators(path))
                                     .arg(version)
                                     .arg(kStoreSchemaVersion)) == QMessageBox::Yes;
  };

  createCentralArea();
  createRunsPanel();
  createActions();
  createMenus();
  storeLabel_ = new QLabel(this);
  storeLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  statusBar()->addPermanentWidget(storeLabel_);
  connect(runsModel_, &RunsModel::checkedRunsChanged, this, &MainWindow::syncCharts);

  resize(1280, 800);
  const QSettings settings;
  restoreGeometry(settings.value(QStringLiteral("window/geometry")).toByteArray());
  restoreState(settings.value(QStringLiteral("window/state")).toByteArray());
  tabs_->setCurrentIndex(settings.value(QStringLiteral("view/tab"), 0).toInt());
  learning_->setSmoothing(settings.value(QStringLiteral("view/smoothing"), 0.6).toDouble());
  connect(tabs_, &QTabWidget::currentChanged, this, [this] { refreshCharts(false); });
  updateStatus();
  // Drawn once with no runs: each tab's empty state says what to do, rather than bare axes.
  syncCharts();
}

MainWindow::~MainWindow() {
  cancelComparisonsAndWait();
  // The cache holds a pointer to the store: let go of it before the store goes.
  cache_.setStore(nullptr);
}

void MainWindow::createCentralArea() {
  tabs_ = new QTabWidget(this);
  tabs_->setDocumentMode(true);
  learning_ = new LearningTab(this);
  memory_ = new MemoryTab(this);
  paging_ = new PagingTab(this);
  time_ = new TimeTab(this);
  summary_ = new SummaryTab(this);
  calculator_ = new CalculatorTab(this);
  tabs_->addTab(learning_, tr("&Learning curves"));
  tabs_->addTab(memory_, tr("&Memory"));
  tabs_->addTab(paging_, tr("&Paging"));
  tabs_->addTab(time_, tr("&Time"));
  tabs_->addTab(summary_, tr("&Summary"));
  tabs_->addTab(calculator_, tr("Memory &calculator"));

  progressPanel_ = new QWidget(this);
  progressLayout_ = new QVBoxLayout(progressPanel_);
  progressLayout_->setContentsMargins(0, 0, 0, 0);
  progressLayout_->setSpacing(0);
  progressPanel_->setVisible(false);

  firstStart_ = new FirstStartOffer(sampleStorePath(), this);
  connect(firstStart_, &FirstStartOffer::openSampleRequested, this, [this] { openStore(sampleStorePath()); });
  connect(firstStart_, &FirstStartOffer::newComparisonRequested, this, &MainWindow::showNewComparisonDialog);
  connect(firstStart_, &FirstStartOffer::openStoreRequested, this, &MainWindow::showOpenStoreDialog);

  auto* central = new QWidget(this);
  auto* layout = new QVBoxLayout(central);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(0);
  layout->addWidget(firstStart_);
  layout->addWidget(tabs_, 1);
  layout->addWidget(progressPanel_);
  setCentralWidget(central);
}

void MainWindow::createRunsPanel() {
  runsView_ = new QTreeView(this);
  runsView_->setModel(runsModel_);
  runsView_->setUniformRowHeights(true);
  runsView_->setAlternatingRowColors(true);
  runsView_->setSelectionMode(QAbstractItemView::SingleSelection);
  // Names take what the outcome and device leave; a long comparison name is elided (its tooltip
  // has it whole) rather than pushing the outcome out of sight.
  runsView_->header()->setStretchLastSection(false);
  runsView_->header()->setSectionResizeMode(RunsModel::NameColumn, QHeaderView::Stretch);
  runsView_->header()->setSectionResizeMode(RunsModel::OutcomeColumn, QHeaderView::ResizeToContents);
  runsView_->header()->setSectionResizeMode(RunsModel::DeviceColumn, QHeaderView::ResizeToContents);
  // New comparisons and runs show up expanded: they are what the user is waiting for.
  connect(runsModel_, &QAbstractItemModel::modelReset, runsView_, &QTreeView::expandAll);
  connect(runsModel_, &QAbstractItemModel::rowsInserted, runsView_,
          [this](const QModelIndex& parent, int first, int last) {
            if (parent.isValid())
              runsView_->expand(parent);
            else
              for (int row = first; row <= last; ++row) runsView_->expand(runsModel_->index(row, 0));
          });

  details_ = new RunDetailsView(this);
  connect(runsView_->selectionModel(), &QItemSelectionModel::currentChanged, this,
          [this](const QModelIndex& current) { showDetailsOf(current); });
  auto* split = new QSplitter(Qt::Vertical, this);
  split->addWidget(runsView_);
  split->addWidget(details_);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 2);
  split->setSizes({480, 320});
  split->setChildrenCollapsible(false);

  auto* dock = new QDockWidget(tr("Runs"), this);
  dock->setObjectName(QStringLiteral("runsDock"));
  dock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable |
                    QDockWidget::DockWidgetClosable);
  dock->setWidget(split);
  dock->setMinimumWidth(300);
  addDockWidget(Qt::LeftDockWidgetArea, dock);
  resizeDocks({dock}, {440}, Qt::Horizontal);
}

void MainWindow::createActions() {
  openAct_ = new QAction(QIcon::fromTheme(QStringLiteral("document-open")), tr("&Open store…"), this);
  openAct_->setShortcut(QKeySequence::Open);
  connect(openAct_, &QAction::triggered, this, &MainWindow::showOpenStoreDialog);

  newComparisonAct_ =
      new QAction(QIcon::fromTheme(QStringLiteral("document-new")), tr("&New comparison…"), this);
  newComparisonAct_->setShortcut(QKeySequence::New);
  connect(newComparisonAct_, &QAction::triggered, this, &MainWindow::showNewComparisonDialog);

  exportPngAct_ = new QAction(tr("&PNG image…"), this);
  exportPngAct_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
  connect(exportPngAct_, &QAction::triggered, this, [this] { exportCurrentChart(QStringLiteral("png")); });
  exportSvgAct_ = new QAction(tr("&SVG vector image…"), this);
  connect(exportSvgAct_, &QAction::triggered, this, [this] { exportCurrentChart(QStringLiteral("svg")); });
  exportPdfAct_ = new QAction(tr("P&DF document…"), this);
  connect(exportPdfAct_, &QAction::triggered, this, [this] { exportCurrentChart(QStringLiteral("pdf")); });
  exportReportAct_ = new QAction(tr("Comparison &report (PNG, PDF)…"), this);
  exportReportAct_->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_R));
  connect(exportReportAct_, &QAction::triggered, this, &MainWindow::exportReportDialog);
  exportAllAct_ = new QAction(tr("&All charts to a folder…"), this);
  connect(exportAllAct_, &QAction::triggered, this, &MainWindow::exportChartsDialog);
  exportCsvAct_ = new QAction(tr("Export steps as &CSV…"), this);
  connect(exportCsvAct_, &QAction::triggered, this, &MainWindow::exportCsv);

  reloadAct_ = new QAction(QIcon::fromTheme(QStringLiteral("view-refresh")), tr("&Reload store"), this);
  reloadAct_->setShortcut(QKeySequence::Refresh);
  connect(reloadAct_, &QAction::triggered, this, &MainWindow::reloadStore);
  resetViewAct_ = new QAction(tr("Reset chart &view"), this);
  resetViewAct_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_0));
  connect(resetViewAct_, &QAction::triggered, this, [this] {
    if (ChartTab* tab = currentChartTab()) tab->resetView();
  });

  quitAct_ = new QAction(QIcon::fromTheme(QStringLiteral("application-exit")), tr("&Quit"), this);
  quitAct_->setShortcut(QKeySequence::Quit);
  quitAct_->setMenuRole(QAction::QuitRole);
  connect(quitAct_, &QAction::triggered, this, &QWidget::close);
}

void MainWindow::createMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  file->addAction(openAct_);
  recentMenu_ = file->addMenu(tr("Open &recent"));
  file->addAction(newComparisonAct_);
  file->addSeparator();
  QMenu* exportMenu = file->addMenu(tr("&Export chart as"));
  exportMenu->addAction(exportPngAct_);
  exportMenu->addAction(exportSvgAct_);
  exportMenu->addAction(exportPdfAct_);
  exportMenu->addSeparator();
  exportMenu->addAction(exportAllAct_);
  file->addAction(exportReportAct_);
  file->addAction(exportCsvAct_);
  file->addSeparator();
  file->addAction(quitAct_);
  rebuildRecentMenu();

  QMenu* view = menuBar()->addMenu(tr("&View"));
  view->addAction(reloadAct_);
  view->addAction(resetViewAct_);
  view->addSeparator();
  for (int i = 0; i < tabs_->count(); ++i) {
    QAction* act = view->addAction(tabs_->tabText(i).remove(QLatin1Char('&')), this,
                                   [this, i] { tabs_->setCurrentIndex(i); });
    act->setShortcut(QKeySequence(Qt::ALT | static_cast<Qt::Key>(Qt::Key_1 + i)));
  }
  view->addSeparator();
  for (QDockWidget* dock : findChildren<QDockWidget*>()) view->addAction(dock->toggleViewAction());

  QMenu* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&About Optiscope"), this, [this] {
    QMessageBox::about(this, tr("About Optiscope"),
                       tr("<h3>Optiscope %1</h3><p>Memory, speed and accuracy trade-offs of LLM optimizers, "
                          "side by side.</p><p>Licensed under the GPL, version 3 or later.</p>")
                           .arg(QApplication::applicationVersion()));
  });
}

void MainWindow::rebuildRecentMenu() {
  recentMenu_->clear();
  const QStringList files = RecentFiles::load();
  for (int i = 0; i < files.size(); ++i) {
    const QString path = files[i];
    QAction* act =
        recentMenu_->addAction(QStringLiteral("&%1 %2").arg(i + 1).arg(QFileInfo(path).fileName()));
    act->setToolTip(path);
    act->setStatusTip(path);
    connect(act, &QAction::triggered, this, [this, path] { openStore(path); });
  }
  if (!files.isEmpty()) recentMenu_->addSeparator();
  QAction* clear = recentMenu_->addAction(tr("&Clear list"), this, [this] {
    RecentFiles::clear();
    rebuildRecentMenu();
  });
  clear->setEnabled(!files.isEmpty());
}

bool MainWindow::openStore(const QString& path) {
  std::unique_ptr<Store> opened;
  try {
    // Read-only: looking at a file must never change it, even a file that is not ours.
    opened = std::make_unique<Store>(Store::open(path.toStdString(), Store::Mode::read_only));
  } catch (const StoreNeedsMigration& old) {
    // Upgrading writes the file: only with the user's yes, never in scripted runs.
    if (!interactive_ || !migrationPrompt_ || !migrationPrompt_(path, old.version())) {
      showError(
          tr("Cannot open store"),
          tr("%1\nThe file was left untouched; open it in Optiscope and agree to upgrade it to show it.")
              .arg(QString::fromUtf8(old.what())),
          true);
      return false;
    }
    try {
      Store::migrate(path.toStdString());
      opened = std::make_unique<Store>(Store::open(path.toStdString(), Store::Mode::read_only));
    } catch (const std::exception& e) {
      showError(tr("Cannot upgrade store"), QString::fromUtf8(e.what()), true);
      return false;
    }
  } catch (const std::exception& e) {
    showError(tr("Cannot open store"), QString::fromUtf8(e.what()), true);
    return false;
  }
  setStore(std::move(opened));
  RecentFiles::remember(path);
  rebuildRecentMenu();
  emit storeOpened(path);
  return true;
}

void MainWindow::setStore(std::unique_ptr<Store> store) {
  cache_.setStore(nullptr);
  details_->showNothing();
  runsModel_->clear();
  store_ = std::move(store);
  if (openWhenCreated_ == storePath()) openWhenCreated_.clear();
  cache_.setStore(store_.get());
  lastStamp_ = storeStamp();
  lastSize_ = -1;
  reloadStore();
  if (ChartTab* tab = currentChartTab()) tab->resetView();
  storePoll_->start();
  setWindowTitle(QStringLiteral("%1 — Optiscope").arg(QFileInfo(storePath()).fileName()));
}

void MainWindow::reloadStore() {
  if (!store_) return;
  try {
    runsModel_->reload(*store_);
  } catch (const std::exception& e) {
    showError(tr("Cannot read store"), QString::fromUtf8(e.what()), false);
  }
  syncCharts();
  refreshDetails();
  updateStatus();
}

void MainWindow::showDetailsOf(const QModelIndex& index) {
  const QModelIndex run = index.sibling(index.row(), RunsModel::NameColumn);
  if (!store_ || !run.isValid() || !run.data(RunsModel::IsRunRole).toBool()) {
    details_->showNothing();
    return;
  }
  details_->showRun(*store_, run.data(RunsModel::RunIdRole).toLongLong());
}

void MainWindow::refreshDetails() {
  // Nothing chosen yet: show the first run of the newest comparison, the one just recorded.
  if (!runsView_->currentIndex().isValid() && runsModel_->rowCount() > 0) {
    const QModelIndex newest = runsModel_->index(runsModel_->rowCount() - 1, 0);
    if (runsModel_->rowCount(newest) > 0) {
      runsView_->setCurrentIndex(runsModel_->index(0, 0, newest));
      return;  // currentChanged shows it
    }
  }
  showDetailsOf(runsView_->currentIndex());
}

void MainWindow::syncCharts() {
  cache_.setRuns(runsModel_->checkedRuns());
  refreshCharts(true);
  updateActions();
}

ChartTab* MainWindow::currentChartTab() const {
  return qobject_cast<ChartTab*>(tabs_->currentWidget());
}

void MainWindow::refreshCharts(bool runsChanged) {
  ChartTab* tab = currentChartTab();
  if (!tab) return;
  const bool grew = cache_.refresh(tab->needs());
  const bool wasStale = std::find(stale_.begin(), stale_.end(), tab) != stale_.end();
  if (runsChanged || grew) {
    // Every other tab is now older than the data; each redraws when it is next shown.
    stale_.clear();
    for (int i = 0; i < tabs_->count(); ++i)
      if (auto* other = qobject_cast<ChartTab*>(tabs_->widget(i)); other && other != tab)
        stale_.push_back(other);
  } else if (wasStale) {
    stale_.erase(std::find(stale_.begin(), stale_.end(), tab));
  }
  if (runsChanged || grew || wasStale) tab->showRuns(cache_.runs());
}

QDateTime MainWindow::storeStamp() const {
  if (!store_) return {};
  // In WAL mode a writer appends to the -wal file; the main file changes only at checkpoints.
  const QFileInfo wal(storePath() + QStringLiteral("-wal"));
  const QFileInfo db(storePath());
  return std::max(wal.exists() ? wal.lastModified() : QDateTime(), db.lastModified());
}

void MainWindow::pollStore() {
  if (!store_) return;
  const qint64 size = QFileInfo(storePath()).size() + QFileInfo(storePath() + QStringLiteral("-wal")).size();
  const QDateTime stamp = storeStamp();
  if (stamp == lastStamp_ && size == lastSize_) return;
  const bool first = lastSize_ < 0;
  lastStamp_ = stamp;
  lastSize_ = size;
  if (first) return;
  // Runs (new ones, finished ones) and then only the rows written since the last read.
  try {
    runsModel_->reload(*store_);
  } catch (const std::exception& e) {
    qWarning() << "cannot re-read the store:" << e.what();
    return;
  }
  cache_.setRuns(runsModel_->checkedRuns());
  ChartTab* tab = currentChartTab();
  if (tab && cache_.refresh(tab->needs()))
    refreshCharts(true);
  else if (tab)
    refreshCharts(true);
  refreshDetails();
  updateStatus();
}

void MainWindow::updateActions() {
  const bool chartHasData = !cache_.runs().empty();
  exportPngAct_->setEnabled(chartHasData);
  exportSvgAct_->setEnabled(chartHasData);
  exportPdfAct_->setEnabled(chartHasData);
  exportCsvAct_->setEnabled(store_ && !runsModel_->checkedRuns().empty());
  exportReportAct_->setEnabled(chartHasData);
  exportAllAct_->setEnabled(chartHasData);
  reloadAct_->setEnabled(store_ != nullptr);
}

void MainWindow::updateStatus() {
  firstStart_->setVisible(!store_);
  if (!store_) {
    storeLabel_->setText(tr("No store open"));
    return;
  }
  storeLabel_->setText(
      tr("%1  ·  store schema v%2  ·  %n comparison(s)", nullptr, runsModel_->comparisonCount())
          .arg(QDir::toNativeSeparators(storePath()))
          .arg(store_->schema_version()));
}

QString MainWindow::storePath() const {
  return store_ ? sameFile(QString::fromStdString(store_->path())) : QString();
}

QString MainWindow::defaultStoreForNewComparison() const {
  // The sample is there to look at (and may sit in a read-only system folder): never record into it.
  return store_ && !isSampleStore(storePath()) ? storePath() : newStorePath();
}

void MainWindow::showOpenStoreDialog() {
  const QString start = store_ ? QFileInfo(storePath()).absolutePath() : QString();
  const QString path = QFileDialog::getOpenFileName(this, tr("Open store"), start, storeFileFilter());
  if (!path.isEmpty()) openStore(path);
}

void MainWindow::showNewComparisonDialog() {
  NewComparisonDialog dialog(defaultStoreForNewComparison(), this);
  if (dialog.exec() == QDialog::Accepted) startComparison(dialog.spec(), dialog.storePath());
}

void MainWindow::startComparison(const ComparisonSpec& spec, const QString& storePath) {
  const QString target = sameFile(storePath);
  auto* worker = new ComparisonWorker(spec, target, this);
  auto* progress = new ComparisonProgress(QString::fromStdString(spec.name), progressPanel_);
  progressLayout_->addWidget(progress);
  progressPanel_->setVisible(true);
  recordings_.push_back({worker, progress});

  connect(progress, &ComparisonProgress::cancelRequested, worker, [worker, progress] {
    worker->cancel();
    progress->showCancelling();
  });
  connect(worker, &ComparisonWorker::runStarted, this,
          [this, worker](const RunProgress& p) { onRunStarted(worker, p); });
  connect(worker, &ComparisonWorker::stepWritten, this,
          [this, worker](const RunProgress& p) { onStepWritten(worker, p); });
  connect(worker, &ComparisonWorker::runFinished, this, [this, worker] { onRunFinished(worker); });
  connect(worker, &ComparisonWorker::finished, this, [this, worker](const ComparisonResult& result) {
    QStringList outcomes;
    for (std::size_t i = 0; i < result.run_ids.size() && i < result.outcomes.size(); ++i) {
      RunInfo run;
      run.outcome = result.outcomes[i];
      if (store_ && recordsIntoOpenStore(*worker)) {
        try {
          run = store_->run(result.run_ids[i]);
        } catch (const std::exception&) {
        }
      }
      const std::string optim = i < worker->spec().optims.size() ? worker->spec().optims[i] : run.optim;
      outcomes << QStringLiteral("%1 %2").arg(QString::fromStdString(optim), outcomeText(run));
    }
    onComparisonEnded(worker, result.cancelled
                                  ? tr("Comparison cancelled: %1").arg(outcomes.join(QStringLiteral(", ")))
                                  : tr("Comparison finished: %1").arg(outcomes.join(QStringLiteral(", "))));
  });
  connect(worker, &ComparisonWorker::failed, this, [this, worker](const QString& message) {
    showError(tr("Comparison failed"), message, false);
    onComparisonEnded(worker, tr("Comparison failed: %1").arg(message));
  });

  // Show the comparison's store: now if it exists, else as soon as the engine has created it.
  if (target != this->storePath()) {
    if (QFileInfo::exists(target))
      openStore(target);
    else
      openWhenCreated_ = target;
  }
  worker->start();
  statusBar()->showMessage(tr("Recording %1 into %2").arg(QString::fromStdString(spec.name), target), 5000);
}

bool MainWindow::recordsIntoOpenStore(const ComparisonWorker& worker) const {
  return store_ && worker.storePath() == storePath();
}

void MainWindow::onRunStarted(ComparisonWorker* worker, const RunProgress& p) {
  for (auto& r : recordings_)
    if (r.worker == worker) r.progress->showRunStarted(p);
  if (!openWhenCreated_.isEmpty() && worker->storePath() == openWhenCreated_) {
    openStore(openWhenCreated_);
    return;
  }
  if (recordsIntoOpenStore(*worker)) reloadStore();
}

void MainWindow::onStepWritten(ComparisonWorker* worker, const RunProgress& p) {
  for (auto& r : recordings_)
    if (r.worker == worker) r.progress->showStep(p);
  if (!recordsIntoOpenStore(*worker)) return;
  runsModel_->setLiveProgress(p.run_id, p.step, p.total_steps);
  if (!liveRefresh_->isActive()) liveRefresh_->start();
  // Our own writes are reported directly; the poll would only read the same rows again.
  lastStamp_ = storeStamp();
}

void MainWindow::onRunFinished(ComparisonWorker* worker) {
  if (recordsIntoOpenStore(*worker)) reloadStore();
}

void MainWindow::onComparisonEnded(ComparisonWorker* worker, const QString& summary) {
  auto it = std::find_if(recordings_.begin(), recordings_.end(),
                         [&](const Recording& r) { return r.worker == worker; });
  if (it == recordings_.end()) return;
  it->progress->deleteLater();
  recordings_.erase(it);
  progressPanel_->setVisible(!recordings_.empty());
  if (openWhenCreated_ == worker->storePath()) {
    // Failed before the engine wrote anything: there may be nothing to open.
    const QString path = openWhenCreated_;
    openWhenCreated_.clear();
    if (QFileInfo::exists(path)) openStore(path);
  }
  if (recordsIntoOpenStore(*worker)) reloadStore();
  worker->deleteLater();
  statusBar()->showMessage(summary, 15000);
  if (recordings_.empty()) emit comparisonsFinished();
}

void MainWindow::cancelComparisonsAndWait() {
  for (auto& r : recordings_) r.worker->cancel();
  for (auto& r : recordings_) r.worker->wait();
}

void MainWindow::exportCurrentChart(const QString& suffix) {
  ChartTab* tab = currentChartTab();
  if (!tab || tab->plots().empty()) {
    showError(tr("Export chart"), tr("This tab has no chart; its table can be copied (Ctrl+C)."), true);
    return;
  }
  // The tab's main chart; each chart's context menu exports that one.
  const NamedPlot& main = tab->plots().front();
  const QString folder = store_ ? QFileInfo(storePath()).absolutePath() : QString();
  const QString base = store_ ? QFileInfo(storePath()).completeBaseName() + QLatin1Char('-') : QString();
  const QString proposed = QDir(folder).filePath(base + main.name + QLatin1Char('.') + suffix);
  QString path = QFileDialog::getSaveFileName(this, tr("Export chart"), proposed, chartExportFilter());
  if (path.isEmpty()) return;
  if (QFileInfo(path).suffix().isEmpty()) path += QLatin1Char('.') + suffix;
  const QString error =
      exportChart(*main.plot, path, main.plot->size().expandedTo(QSize(720, 450)), main.name);
  if (!error.isEmpty())
    showError(tr("Export chart"), error, true);
  else
    statusBar()->showMessage(tr("Chart exported to %1").arg(path), 5000);
}

QString MainWindow::exportReport(const QString& path) {
  // The report draws from all four tabs: bring each up to date with the data first.
  for (ChartTab* tab : std::vector<ChartTab*>{learning_, memory_, paging_, time_, summary_}) {
    cache_.refresh(tab->needs());
    tab->showRuns(cache_.runs());
  }
  stale_.clear();
  ReportContent content;
  content.title = tr("Optimizer comparison");
  QStringList names;
  for (const auto& r : cache_.runs()) names << r.look.label;
  const QString device =
      cache_.runs().empty() ? QString() : QString::fromStdString(cache_.runs().front().info.device);
  content.subtitle = QStringLiteral("%1  ·  %2  ·  %3  ·  %4")
                         .arg(names.join(QStringLiteral(", ")), device, QFileInfo(storePath()).fileName(),
                              QDate::currentDate().toString(Qt::ISODate));
  QCustomPlot* pagingChart = paging_->showsNotes() ? nullptr : &paging_->cumulativePlot();
  content.charts = {&learning_->lossPlot(), &memory_->peaksPlot(),
                    pagingChart ? pagingChart : &memory_->timelinePlot(), &time_->phasePlot()};
  content.summary = &summary_->model();
  return writeReport(content, path);
}

QStringList MainWindow::exportAllCharts(const QString& dir) {
  QStringList problems;
  if (!QDir().mkpath(dir)) return {tr("Cannot create the folder %1.").arg(dir)};
  if (cache_.runs().empty()) problems << tr("No runs are checked: the charts are empty.");
  for (int i = 0; i < tabs_->count(); ++i) {
    auto* tab = qobject_cast<ChartTab*>(tabs_->widget(i));
    if (!tab) continue;
    cache_.refresh(tab->needs());
    tab->showRuns(cache_.runs());
    for (const NamedPlot& p : tab->plots()) {
      // Charts of a tab that does not apply (paging of CPU runs) are not exported as empty frames.
      if (tab == paging_ && paging_->showsNotes()) continue;
      for (const char* suffix : {"png", "svg", "pdf"}) {
        const QString file = QDir(dir).filePath(p.name + QLatin1Char('.') + QLatin1String(suffix));
        const QString error = exportChart(*p.plot, file, QSize(960, 600), p.name);
        if (!error.isEmpty()) problems << error;
      }
    }
  }
  stale_.clear();
  for (const char* suffix : {"png", "pdf"}) {
    const QString error = exportReport(QDir(dir).filePath(QStringLiteral("report.") + QLatin1String(suffix)));
    if (!error.isEmpty()) problems << error;
  }
  return problems;
}

void MainWindow::exportReportDialog() {
  const QString folder = store_ ? QFileInfo(storePath()).absolutePath() : QString();
  const QString proposed =
      QDir(folder).filePath(QFileInfo(storePath()).completeBaseName() + QStringLiteral("-report.pdf"));
  QString path = QFileDialog::getSaveFileName(this, tr("Export report"), proposed,
                                              tr("PDF document (*.pdf);;PNG image (*.png)"));
  if (path.isEmpty()) return;
  if (QFileInfo(path).suffix().isEmpty()) path += QStringLiteral(".pdf");
  const QString error = exportReport(path);
  if (!error.isEmpty())
    showError(tr("Export report"), error, true);
  else
    statusBar()->showMessage(tr("Report exported to %1").arg(path), 5000);
}

void MainWindow::exportChartsDialog() {
  const QString dir = QFileDialog::getExistingDirectory(
      this, tr("Export all charts to"), store_ ? QFileInfo(storePath()).absolutePath() : QString());
  if (dir.isEmpty()) return;
  const QStringList problems = exportAllCharts(dir);
  if (!problems.isEmpty())
    showError(tr("Export charts"), problems.join(QLatin1Char('\n')), true);
  else
    statusBar()->showMessage(tr("Charts exported to %1").arg(dir), 5000);
}

void MainWindow::exportCsv() {
  if (!store_) return;
  const QString proposed = QFileInfo(storePath()).absolutePath() + QLatin1Char('/') +
                           QFileInfo(storePath()).completeBaseName() + QStringLiteral("-steps.csv");
  const QString path =
      QFileDialog::getSaveFileName(this, tr("Export steps"), proposed, tr("CSV table (*.csv)"));
  if (path.isEmpty()) return;
  const QString error = writeStepsCsv(*store_, runsModel_->checkedRuns(), path);
  if (!error.isEmpty())
    showError(tr("Export steps"), error, true);
  else
    statusBar()->showMessage(tr("Steps exported to %1").arg(path), 5000);
}

void MainWindow::showError(const QString& title, const QString& text, bool modal) {
  if (!interactive_) {
    std::fprintf(stderr, "optiscope: %s: %s\n", qPrintable(title), qPrintable(text));
    return;
  }
  if (modal) {
    QMessageBox::critical(this, title, text);
    return;
  }
  // Reported from a notification: a nested event loop here would stall the live views.
  auto* box = new QMessageBox(QMessageBox::Critical, title, text, QMessageBox::Ok, this);
  box->setAttribute(Qt::WA_DeleteOnClose);
  box->open();
}

void MainWindow::closeEvent(QCloseEvent* event) {
  if (isComparing()) {
    const auto answer = QMessageBox::question(this, tr("Quit Optiscope"),
                                              tr("A comparison is still being recorded. Cancel it and quit? "
                                                 "The steps recorded so far stay in the store."));
    if (answer != QMessageBox::Yes) {
      event->ignore();
      return;
    }
    cancelComparisonsAndWait();
  }
  QSettings settings;
  settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
  settings.setValue(QStringLiteral("window/state"), saveState());
  settings.setValue(QStringLiteral("view/tab"), tabs_->currentIndex());
  settings.setValue(QStringLiteral("view/smoothing"), learning_->smoothing());
  event->accept();
}

void MainWindow::changeEvent(QEvent* event) {
  QMainWindow::changeEvent(event);
  // A theme switch repaints the widgets; the charts recolour themselves (ChartTab), and the
  // picture of every tab is redrawn so annotations pick up the new ink.
  if (event->type() == QEvent::PaletteChange || event->type() == QEvent::ApplicationPaletteChange)
    refreshCharts(true);
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
  if (!droppedStoreFile(event->mimeData()).isEmpty()) event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
  const QString path = droppedStoreFile(event->mimeData());
  if (path.isEmpty()) return;
  event->acceptProposedAction();
  // Opened after the drop finished: a message box inside the drop would freeze the drag source.
  QTimer::singleShot(0, this, [this, path] { openStore(path); });
}

}  // namespace optiscope::ui
