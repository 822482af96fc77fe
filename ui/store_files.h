#pragma once
// Where store files are looked for and created.
#include <QString>

namespace optiscope::ui {

/// True for the names a store file is dropped or opened under: *.db, *.sqlite, *.sqlite3.
bool looksLikeStoreFile(const QString& path);
/// The file dialog filter for store files.
QString storeFileFilter();
/// A fresh, not yet existing store file in the application data folder (created if needed),
/// named after the current time so that earlier recordings are never overwritten.
QString newStorePath();

}  // namespace optiscope::ui
