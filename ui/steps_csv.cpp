#include "steps_csv.h"

#include <QLocale>
#include <QSaveFile>
#include <QTextStream>

#include "store/store.h"

namespace optiscope::ui {
namespace {

// Optimizer names are plain identifiers today, but a CSV writer must not trust that.
QString csvField(const QString& text) {
  if (!text.contains(QLatin1Char(',')) && !text.contains(QLatin1Char('"')) &&
      !text.contains(QLatin1Char('\n')))
    return text;
  QString quoted = text;
  quoted.replace(QLatin1String("\""), QLatin1String("\"\""));
  return QLatin1Char('"') + quoted + QLatin1Char('"');
}

// The shortest text that reads back as the same double: exact, and no 0.30000000000000004 noise.
QString exact(double value) {
  return QString::number(value, 'g', QLocale::FloatingPointShortest);
}

}  // namespace

QString writeStepsCsv(const Store& store, const std::vector<RunInfo>& runs, QIODevice& out) {
  QTextStream csv(&out);
  csv << "run,optim,step,loss,lr,step_ms,tokens,mem_bytes\n";
  try {
    for (const auto& run : runs) {
      const QString optim = csvField(QString::fromStdString(run.optim));
      for (const auto& s : store.steps(run.id)) {
        csv << run.id << ',' << optim << ',' << s.step << ',' << exact(s.loss) << ',' << exact(s.lr) << ','
            << exact(s.step_ms) << ',' << s.tokens << ',' << s.mem_bytes << '\n';
      }
    }
  } catch (const StoreError& e) {
    return QStringLiteral("Could not read the steps: %1").arg(QString::fromStdString(e.what()));
  }
  csv.flush();
  if (csv.status() != QTextStream::Ok) return QStringLiteral("Could not write the CSV data.");
  return {};
}

QString writeStepsCsv(const Store& store, const std::vector<RunInfo>& runs, const QString& path) {
  // QSaveFile: an existing file is replaced only once the new one is complete.
  QSaveFile file(path);
  if (!file.open(QIODevice::WriteOnly | QIODevice::Text))
    return QStringLiteral("Could not write %1: %2").arg(path, file.errorString());
  QString error = writeStepsCsv(store, runs, file);
  if (!error.isEmpty()) {
    file.cancelWriting();
    return error;
  }
  if (!file.commit()) return QStringLiteral("Could not write %1: %2").arg(path, file.errorString());
  return {};
}

}  // namespace optiscope::ui
