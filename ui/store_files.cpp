#include "store_files.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QStandardPaths>

namespace optiscope::ui {

bool looksLikeStoreFile(const QString& path) {
  const QString suffix = QFileInfo(path).suffix().toLower();
  return suffix == QLatin1String("db") || suffix == QLatin1String("sqlite") ||
         suffix == QLatin1String("sqlite3");
}

QString storeFileFilter() {
  return QStringLiteral("Optiscope stores (*.db *.sqlite *.sqlite3);;All files (*)");
}

QString sampleStorePath() {
  const QString name = QStringLiteral(OPTISCOPE_SAMPLE_STORE_NAME);
  const QString installed = QDir(QCoreApplication::applicationDirPath())
                                .filePath(QStringLiteral("../share/optiscope/sample/") + name);
  for (const QString& candidate :
       {installed, QDir(QStringLiteral(OPTISCOPE_SAMPLE_SOURCE_DIR)).filePath(name)})
    if (QFileInfo(candidate).isFile()) return QFileInfo(candidate).canonicalFilePath();
  return {};
}

bool isSampleStore(const QString& path) {
  const QString sample = sampleStorePath();
  return !sample.isEmpty() && QFileInfo(path).canonicalFilePath() == sample;
}

QString newStorePath() {
  QString folder = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
  if (folder.isEmpty()) folder = QDir::homePath();
  QDir().mkpath(folder);
  const QString stem = QStringLiteral("comparisons-%1")
                           .arg(QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss")));
  QString path = QDir(folder).filePath(stem + QStringLiteral(".db"));
  for (int n = 2; QFileInfo::exists(path); ++n)
    path = QDir(folder).filePath(QStringLiteral("%1-%2.db").arg(stem).arg(n));
  return path;
}

}  // namespace optiscope::ui
