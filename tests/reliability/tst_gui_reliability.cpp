// The GUI under stress: a store the CLI is writing, read live by the window, with no "database is
// locked" and no error box; and a comparison recorded from the window where one variant runs out
// of memory, which must end as an outcome while the window keeps working.
#include <QApplication>
#include <QElapsedTimer>
#include <QMessageBox>
#include <QProcess>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <cstdio>
#include <map>
#include <mutex>

#include "main_window.h"
#include "runs_model.h"
#include "spec/run_spec.h"
#include "store/store.h"

using namespace optiscope;
using optiscope::ui::MainWindow;

namespace {

// Every warning the GUI logs while a test runs: the views log read failures instead of throwing.
std::mutex g_mutex;
QStringList g_warnings;
void collect(QtMsgType type, const QMessageLogContext&, const QString& text) {
  if (type == QtDebugMsg) return;
  if (type == QtInfoMsg) {
    std::fprintf(stderr, "%s\n", qPrintable(text));
    return;
  }
  const std::lock_guard<std::mutex> lock(g_mutex);
  g_warnings << text;
}

QStringList takeWarnings() {
  const std::lock_guard<std::mutex> lock(g_mutex);
  QStringList w = g_warnings;
  g_warnings.clear();
  return w;
}

// Closes every message box that opens, remembering its text: a box is a failure in these tests.
class MessageBoxCatcher : public QObject {
 public:
  MessageBoxCatcher() {
    connect(&timer_, &QTimer::timeout, this, [this] {
      for (QWidget* w : QApplication::topLevelWidgets()) {
        auto* box = qobject_cast<QMessageBox*>(w);
        if (box == nullptr || !box->isVisible()) continue;
        texts << box->text();
        box->done(QMessageBox::Ok);
      }
      for (QMessageBox* box : parentWidgetBoxes()) {
        if (!box->isVisible()) continue;
        texts << box->text();
        box->done(QMessageBox::Ok);
      }
    });
    timer_.start(5);
  }
  QWidget* parentWindow = nullptr;
  QStringList texts;

 private:
  QList<QMessageBox*> parentWidgetBoxes() const {
    return parentWindow != nullptr ? parentWindow->findChildren<QMessageBox*>() : QList<QMessageBox*>{};
  }
  QTimer timer_;
};

std::map<std::int64_t, std::size_t> stepCounts(const Store& s) {
  std::map<std::int64_t, std::size_t> counts;
  for (const auto& r : s.runs()) counts[r.id] = s.steps(r.id).size();
  return counts;
}

}  // namespace

class GuiReliabilityTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    qInstallMessageHandler(collect);
  }
  void cleanupTestCase() { qInstallMessageHandler(nullptr); }

  void readsTheStoreWhileTheCliWritesIt() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString db = dir.filePath(QStringLiteral("live.db"));
    QProcess cli;
    cli.setProcessChannelMode(QProcess::MergedChannels);
    cli.start(
        QStringLiteral(OPTISCOPE_CLI_PATH),
        {QStringLiteral("run"), QStringLiteral("--preset"), QStringLiteral("tiny"), QStringLiteral("--optim"),
         QStringLiteral("adamw_torch,adamw_8bit"), QStringLiteral("--steps"), QStringLiteral("40"),
         QStringLiteral("--batch"), QStringLiteral("2"), QStringLiteral("--seq-len"), QStringLiteral("16"),
         QStringLiteral("--quiet"), QStringLiteral("--db"), db});
    QVERIFY(cli.waitForStarted());

    // The window is pointed at the file once it holds a schema: before that, opening it is refused
    // with a modal box, which is right for a user but not what this test is about.
    QElapsedTimer waited;
    waited.start();
    bool ready = false;
    while (!ready && waited.elapsed() < 300000 && cli.state() != QProcess::NotRunning) {
      try {
        const Store probe = Store::open(db.toStdString(), Store::Mode::read_only);
        ready = true;
      } catch (const StoreError&) {
        QTest::qWait(10);
      }
    }
    QVERIFY2(ready, qPrintable(QString::fromUtf8(cli.readAll())));

    MainWindow w;
    MessageBoxCatcher boxes;
    boxes.parentWindow = &w;
    w.show();
    takeWarnings();
    QVERIFY(w.openStore(db));
    std::map<std::int64_t, std::size_t> last;
    int reloads = 0;
    std::size_t most = 0;
    while (cli.state() != QProcess::NotRunning) {
      w.reloadStore();   // what File > Reload and the end of each run do
      QTest::qWait(25);  // lets the live refresh timer and the chart run too
      ++reloads;
      QVERIFY(w.store() != nullptr);
      const auto now = stepCounts(*w.store());
      for (const auto& [id, n] : last) {
        QVERIFY2(now.count(id) == 1, "a run vanished");
        QVERIFY2(now.at(id) >= n, "steps went backwards");
      }
      for (const auto& [id, n] : now) most = std::max(most, n);
      last = now;
    }
    QCOMPARE(cli.exitStatus(), QProcess::NormalExit);
    QVERIFY2(cli.exitCode() == 0, qPrintable(QString::fromUtf8(cli.readAll())));
    w.reloadStore();
    QTest::qWait(50);
    qInfo("%d reloads while the CLI wrote; at most %zu steps of a run seen", reloads, most);
    QVERIFY(reloads > 5);
    QVERIFY(most > 0);

    const QStringList warnings = takeWarnings();
    for (const QString& text : warnings)
      QVERIFY2(!text.contains(QStringLiteral("locked")) && !text.contains(QStringLiteral("cannot read")),
               qPrintable(text));
    QVERIFY2(boxes.texts.isEmpty(), qPrintable(boxes.texts.join(QStringLiteral("\n"))));
    const auto counts = stepCounts(*w.store());
    QCOMPARE(counts.size(), std::size_t{2});
    for (const auto& [id, n] : counts) QCOMPARE(n, std::size_t{40});
    const QModelIndex comparison = w.runsModel().index(0, 0);
    QCOMPARE(w.runsModel().rowCount(comparison), 2);
  }

  void anOomVariantIsAnOutcomeAndTheWindowCarriesOn() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString db = dir.filePath(QStringLiteral("oom.db"));
    ComparisonSpec spec = default_comparison();
    spec.name = "oom in the gui";
    spec.optims = {"adamw_torch", "adamw_8bit"};
    spec.base.max_steps = 3;
    // Fits adamw_8bit (54.1 MB peak) but not adamw_torch (59.0 MB) on the tiny preset.
    spec.base.device_budget_bytes = static_cast<std::uint64_t>(0.0526 * 1024.0 * 1024.0 * 1024.0);

    MainWindow w;
    MessageBoxCatcher boxes;
    boxes.parentWindow = &w;
    w.show();
    QSignalSpy finished(&w, &MainWindow::comparisonsFinished);
    w.startComparison(spec, db);
    QVERIFY(finished.wait(600000));
    QVERIFY(!w.isComparing());
    QVERIFY2(boxes.texts.isEmpty(), qPrintable(boxes.texts.join(QStringLiteral("\n"))));

    QVERIFY(w.store() != nullptr);
    const auto runs = w.store()->runs();
    QCOMPARE(runs.size(), std::size_t{2});
    QCOMPARE(runs[0].outcome, Outcome::oom);
    QVERIFY(runs[0].oom_step.has_value());
    QVERIFY(runs[0].oom_bytes.has_value());
    QCOMPARE(runs[1].outcome, Outcome::completed);
    QCOMPARE(w.store()->steps(runs[1].id).size(), std::size_t{3});

    // The window still works: another comparison, without a budget, runs to the end.
    spec.base.device_budget_bytes = 0;
    spec.optims = {"adamw_torch"};
    spec.base.max_steps = 2;
    w.startComparison(spec, db);
    QVERIFY(finished.wait(600000));
    const auto again = w.store()->runs();
    QCOMPARE(again.size(), std::size_t{3});
    QCOMPARE(again.back().outcome, Outcome::completed);
    QVERIFY2(boxes.texts.isEmpty(), qPrintable(boxes.texts.join(QStringLiteral("\n"))));
  }
};

QTEST_MAIN(GuiReliabilityTest)
#include "tst_gui_reliability.moc"
