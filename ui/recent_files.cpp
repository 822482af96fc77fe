#include "recent_files.h"

#include <QFileInfo>
#include <QSettings>

namespace optiscope::ui {
namespace {

const QString kKey = QStringLiteral("recentFiles");

void save(const QStringList& files) {
  QSettings().setValue(kKey, files);
}

}  // namespace

QStringList RecentFiles::load() {
  QStringList files = QSettings().value(kKey).toStringList();
  files.removeDuplicates();
  while (files.size() > kMaxEntries) files.removeLast();
  return files;
}

QStringList RecentFiles::remember(const QString& path) {
  const QString canonical = QFileInfo(path).absoluteFilePath();
  QStringList files = load();
  files.removeAll(canonical);
  files.prepend(canonical);
  while (files.size() > kMaxEntries) files.removeLast();
  save(files);
  return files;
}

QStringList RecentFiles::forget(const QString& path) {
  QStringList files = load();
  files.removeAll(path);
  save(files);
  return files;
}

void RecentFiles::clear() {
  save({});
}

}  // namespace optiscope::ui
