#pragma once
// The File > Recent files list, kept in QSettings so it survives restarts: newest first, no
// duplicates, at most eight entries.
#include <QStringList>

namespace optiscope::ui {

class RecentFiles {
 public:
  static constexpr int kMaxEntries = 8;

  static QStringList load();
  /// Moves `path` to the front (adding it if new) and saves the list.
  static QStringList remember(const QString& path);
  static QStringList forget(const QString& path);
  static void clear();
};

}  // namespace optiscope::ui
