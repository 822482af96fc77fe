// Chart exports (PNG, SVG, PDF) are real files of their kind with content, and the CSV export
// holds every step of the checked runs.
#include <QFile>
#include <QImage>
#include <QStandardPaths>
#include <QTest>

#include <qcustomplot.h>
#include "charts/chart_export.h"
#include "charts/chart_series.h"
#include "data/run_data.h"
#include "sample_store.h"
#include "steps_csv.h"
#include "tabs/learning_tab.h"

using namespace optiscope;

class ExportsTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    QVERIFY(dir_.isValid());
    const auto path = test::storePathIn(dir_);
    {
      Store writer = Store::open(path, Store::Mode::read_write);
      runs_ =
          test::writeComparison(writer, "exports", {{"adamw_torch", 300}, {"adamw_8bit", 280, Outcome::oom}});
    }
    store_ = std::make_unique<Store>(Store::open(path, Store::Mode::read_only));
    chart_ = std::make_unique<ui::LearningTab>();
    chart_->resize(900, 560);
    ui::RunDataCache cache;
    cache.setStore(store_.get());
    cache.setRuns({store_->run(runs_[0]), store_->run(runs_[1])});
    QVERIFY(cache.refresh(chart_->needs()));
    chart_->showRuns(cache.runs());
    QVERIFY(chart_->graphOfRun(runs_[0]));
    QVERIFY(chart_->graphOfRun(runs_[1]));
  }

  void cleanupTestCase() {
    chart_.reset();
    store_.reset();
  }

  void png() {
    const QString file = dir_.filePath(QStringLiteral("loss.png"));
    QCOMPARE(exportTo(file), QString());
    QImage image;
    QVERIFY(image.load(file));
    // Twice the logical size, for sharp figures on paper and high-DPI screens.
    QCOMPARE(image.width(), 2 * 960);
    QCOMPARE(image.height(), 2 * 600);
    QVERIFY(QFileInfo(file).size() > 20'000);
    // Not a blank page: the curves' colours are in it.
    int coloured = 0;
    for (int y = 0; y < image.height(); y += 4)
      for (int x = 0; x < image.width(); x += 4) {
        const QColor c = image.pixelColor(x, y);
        if (c.saturation() > 100) ++coloured;
      }
    QVERIFY2(coloured > 200, qPrintable(QStringLiteral("%1 coloured samples").arg(coloured)));
  }

  void svg() {
    const QString file = dir_.filePath(QStringLiteral("loss.svg"));
    QCOMPARE(exportTo(file), QString());
    QFile f(file);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const QByteArray svg = f.readAll();
    QVERIFY(svg.startsWith("<?xml"));
    QVERIFY(svg.contains("<svg"));
    QVERIFY(svg.contains("adamw_8bit"));  // legend text stays text
    QVERIFY(svg.size() > 20'000);
  }

  void pdf() {
    const QString file = dir_.filePath(QStringLiteral("loss.pdf"));
    QCOMPARE(exportTo(file), QString());
    QFile f(file);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const QByteArray pdf = f.readAll();
    QVERIFY(pdf.startsWith("%PDF"));
    QVERIFY(pdf.size() > 5'000);
  }

  void unknownSuffixIsRefused() {
    const QString file = dir_.filePath(QStringLiteral("loss.bmpx"));
    QVERIFY(!exportTo(file).isEmpty());
    QVERIFY(!QFile::exists(file));
  }

  void csv() {
    const QString file = dir_.filePath(QStringLiteral("steps.csv"));
    QCOMPARE(ui::writeStepsCsv(*store_, {store_->run(runs_[0]), store_->run(runs_[1])}, file), QString());
    QFile f(file);
    QVERIFY(f.open(QIODevice::ReadOnly | QIODevice::Text));
    const QStringList lines = QString::fromUtf8(f.readAll()).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    QCOMPARE(lines.size(), 1 + 300 + 280);
    QCOMPARE(lines[0], QStringLiteral("run,optim,step,loss,lr,step_ms,tokens,mem_bytes"));
    const QStringList first = lines[1].split(QLatin1Char(','));
    QCOMPARE(first.size(), 8);
    QCOMPARE(first[0].toLongLong(), runs_[0]);
    QCOMPARE(first[1], QStringLiteral("adamw_torch"));
    QCOMPARE(first[2], QStringLiteral("1"));
    QCOMPARE(first[3].toDouble(), test::sampleLoss(0, 1));  // exact round trip
    QCOMPARE(first[4].toDouble(), 3e-3);
    QCOMPARE(first[6], QStringLiteral("1024"));
    QVERIFY(lines.last().startsWith(QStringLiteral("%1,adamw_8bit,280,").arg(runs_[1])));
  }

 private:
  QTemporaryDir dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ui::LearningTab> chart_;

  QString exportTo(const QString& file) {
    return ui::exportChart(chart_->lossPlot(), file, QSize(960, 600), "loss");
  }
  std::vector<std::int64_t> runs_;
};

QTEST_MAIN(ExportsTest)
#include "tst_exports.moc"
