// MainWindow: opening stores, refusing files that are not stores without touching them, drag and
// drop, and a live comparison from start to outcome.
#include <sqlite3.h>
#include <QApplication>
#include <QCryptographicHash>
#include <QDir>
#include <QDragEnterEvent>
#include <QFile>
#include <QMessageBox>
#include <QMimeData>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTest>
#include <QTimer>
#include <QUrl>

#include <qcustomplot.h>

#include "main_window.h"
#include "recent_files.h"
#include "run_details_view.h"
#include "runs_model.h"
#include "sample_store.h"
#include "store/schema.h"
#include "tabs/learning_tab.h"

using namespace optiscope;
using optiscope::ui::MainWindow;

namespace {

// Closes every message box that opens while it lives, remembering the texts.
class MessageBoxCatcher : public QObject {
 public:
  MessageBoxCatcher() {
    connect(&timer_, &QTimer::timeout, this, [this] {
      if (auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget())) {
        texts << box->text();
        box->done(QMessageBox::Ok);
      }
    });
    timer_.start(5);
  }
  QStringList texts;

 private:
  QTimer timer_;
};

QByteArray fileDigest(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return {};
  return QCryptographicHash::hash(f.readAll(), QCryptographicHash::Sha256);
}

void writeFile(const QString& path, const QByteArray& bytes) {
  QFile f(path);
  QVERIFY(f.open(QIODevice::WriteOnly));
  f.write(bytes);
}

void sqliteExec(const QString& path, const char* sql) {
  sqlite3* db = nullptr;
  QCOMPARE(sqlite3_open(path.toUtf8().constData(), &db), SQLITE_OK);
  QCOMPARE(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
}

}  // namespace

class MainWindowTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    ui::RecentFiles::clear();
    QVERIFY(dir_.isValid());
    storePath_ = QString::fromStdString(test::storePathIn(dir_, "good.db"));
    Store writer = Store::open(storePath_.toStdString(), Store::Mode::read_write);
    runs_ = test::writeComparison(writer, "good", {{"adamw_torch", 120}, {"adamw_8bit", 90, Outcome::oom}});
  }

  void opensAStore() {
    MainWindow window;
    QVERIFY(window.openStore(storePath_));
    QCOMPARE(window.storePath(), QFileInfo(storePath_).absoluteFilePath());
    QCOMPARE(window.runsModel().rowCount(), 1);
    QCOMPARE(window.shownRuns().size(), std::size_t{2});
    window.tabs().setCurrentIndex(1);
    window.tabs().setCurrentIndex(0);
    QVERIFY(window.learningTab().graphOfRun(runs_[0]));
    QVERIFY(window.learningTab().graphOfRun(runs_[1]));
    QVERIFY(window.windowTitle().contains(QStringLiteral("good.db")));
    QCOMPARE(ui::RecentFiles::load().value(0), QFileInfo(storePath_).absoluteFilePath());
    // The details panel starts on the first run of the newest comparison.
    auto* details = window.findChild<ui::RunDetailsView*>();
    QVERIFY(details);
    QCOMPARE(details->shownRun(), runs_[0]);
    QVERIFY(details->text().contains(QStringLiteral("adamw_torch")));
  }

  void refusesFilesThatAreNotStores_data() {
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("expected");
    QTest::newRow("text") << QStringLiteral("notes.db") << QStringLiteral("not a readable Optiscope store");
    QTest::newRow("binary") << QStringLiteral("noise.sqlite")
                            << QStringLiteral("not a readable Optiscope store");
    QTest::newRow("empty") << QStringLiteral("empty.db") << QStringLiteral("empty");
    QTest::newRow("foreign sqlite") << QStringLiteral("foreign.db")
                                    << QStringLiteral("not an Optiscope store");
    QTest::newRow("newer store") << QStringLiteral("newer.db") << QStringLiteral("newer Optiscope");
    QTest::newRow("missing") << QStringLiteral("missing.db") << QStringLiteral("no such store file");
  }

  void refusesFilesThatAreNotStores() {
    QFETCH(QString, name);
    QFETCH(QString, expected);
    QTemporaryDir dir;
    const QString path = dir.filePath(name);
    if (name == QLatin1String("notes.db")) {
      writeFile(path, QByteArray("These are my notes, not a database.\n").repeated(50));
    } else if (name == QLatin1String("noise.sqlite")) {
      QByteArray noise;
      for (int i = 0; i < 8192; ++i) noise.append(static_cast<char>((i * 7919) % 251));
      writeFile(path, noise);
    } else if (name == QLatin1String("empty.db")) {
      writeFile(path, {});
    } else if (name == QLatin1String("foreign.db")) {
      sqliteExec(path, "CREATE TABLE birds(name TEXT); INSERT INTO birds VALUES('wren');");
    } else if (name == QLatin1String("newer.db")) {
      QVERIFY(QFile::copy(storePath_, path));
      sqliteExec(path, "PRAGMA journal_mode=DELETE; PRAGMA user_version = 99;");
    }
    const QByteArray before = fileDigest(path);
    const QStringList filesBefore = QDir(dir.path()).entryList(QDir::Files);

    MainWindow window;
    QVERIFY(window.openStore(storePath_));
    MessageBoxCatcher catcher;
    QVERIFY(!window.openStore(path));

    QCOMPARE(catcher.texts.size(), 1);
    QVERIFY2(catcher.texts[0].contains(expected), qPrintable(catcher.texts[0]));
    QCOMPARE(fileDigest(path), before);
    // Nothing written next to it either (no journal, no WAL, no new file).
    QCOMPARE(QDir(dir.path()).entryList(QDir::Files), filesBefore);
    // The store that was open stays open.
    QCOMPARE(window.storePath(), QFileInfo(storePath_).absoluteFilePath());
    QCOMPARE(window.runsModel().rowCount(), 1);
  }

  void acceptsADroppedStore() {
    MainWindow window;
    QMimeData mime;
    mime.setUrls({QUrl::fromLocalFile(storePath_)});
    QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(&window, &enter);
    QVERIFY(enter.isAccepted());
    QDropEvent drop(QPointF(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(&window, &drop);
    QTRY_COMPARE(window.storePath(), QFileInfo(storePath_).absoluteFilePath());

    QMimeData text;
    text.setUrls({QUrl::fromLocalFile(dir_.filePath(QStringLiteral("photo.png")))});
    QDragEnterEvent refused(QPoint(10, 10), Qt::CopyAction, &text, Qt::LeftButton, Qt::NoModifier);
    refused.setAccepted(false);
    QApplication::sendEvent(&window, &refused);
    QVERIFY(!refused.isAccepted());
  }

  // An older store: the user is asked; "no" leaves the file as it was, "yes" upgrades and opens it.
  void offersToMigrateAnOlderStore() {
    const QString path = dir_.filePath(QStringLiteral("v1.db"));
    {
      sqlite3* h = nullptr;
      QCOMPARE(sqlite3_open(path.toUtf8().constData(), &h), SQLITE_OK);
      QCOMPARE(sqlite3_exec(h, schema::schema_v1_sql(), nullptr, nullptr, nullptr), SQLITE_OK);
      const std::string fill =
          "PRAGMA application_id = " + std::to_string(schema::kApplicationId) +
          "; PRAGMA user_version = 1;"
          "INSERT INTO comparisons VALUES(1, 'old', '2026-11-01T00:00:00Z', '{}');"
          "INSERT INTO runs(id, comparison_id, ordinal, optim, spec_json, device, outcome, started_at) "
          "VALUES(1, 1, 0, 'adamw_torch', '{}', 'cpu', 'completed', '2026-11-01T00:00:00Z');"
          "INSERT INTO steps VALUES(1, 1, 5.5, 0.001, 10.0, 1024, 2048);";
      QCOMPARE(sqlite3_exec(h, fill.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
      sqlite3_close(h);
    }
    const QByteArray before = fileDigest(path);
    MainWindow window;
    window.setInteractive(true);
    int asked = 0;
    window.setMigrationPrompt([&](const QString&, int version) {
      ++asked;
      return version == 1 && asked > 1;  // no the first time, yes the second
    });
    {
      MessageBoxCatcher catcher;
      QVERIFY(!window.openStore(path));
      QCOMPARE(asked, 1);
      QCOMPARE(fileDigest(path), before);
    }
    QVERIFY(window.openStore(path));
    QCOMPARE(asked, 2);
    QCOMPARE(window.store()->schema_version(), optiscope::kStoreSchemaVersion);
    QCOMPARE(window.runsModel().rowCount(), 1);
  }

  void recordsAComparisonLive() {
    ComparisonSpec spec = default_comparison();
    spec.base.max_steps = 6;
    spec.base.warmup_ratio = 0.0;
    const QString path = dir_.filePath(QStringLiteral("live.db"));
    MainWindow window;
    QSignalSpy finished(&window, &MainWindow::comparisonsFinished);
    window.startComparison(spec, path);
    QVERIFY(window.isComparing());
    QVERIFY(finished.wait(180'000));
    QVERIFY(!window.isComparing());

    QCOMPARE(window.storePath(), QFileInfo(path).absoluteFilePath());
    QCOMPARE(window.runsModel().rowCount(), 1);
    const auto runs = window.runsModel().checkedRuns();
    QCOMPARE(runs.size(), spec.optims.size());
    for (const auto& r : runs) {
      QVERIFY2(r.outcome == Outcome::completed, r.outcome_detail.c_str());
      QCOMPARE(window.shownRuns().size(), spec.optims.size());
      window.tabs().setCurrentIndex(1);
      window.tabs().setCurrentIndex(0);
      QVERIFY(window.learningTab().graphOfRun(r.id));
      QCOMPARE(window.learningTab().graphOfRun(r.id)->dataCount(), 6);
    }
  }

 private:
  QTemporaryDir dir_;
  QString storePath_;
  std::vector<std::int64_t> runs_;
};

QTEST_MAIN(MainWindowTest)
#include "tst_main_window.moc"
