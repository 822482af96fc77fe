#include "store_files.h"

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
