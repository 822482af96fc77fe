#pragma once
// Where store files are looked for and created.
#include <QString>

namespace optiscope::ui {

/// True for the names a store file is dropped or opened under: *.db, *.sqlite, *.sqlite3.
bool looksLikeStoreFile(const QString& path);
/// The file dialog filter for store files.
QString storeFileFilter();
/// The sample recording shipped with Optiscope (a comparison of four variants on an H100), for a
/// first start without a store: installed under share/optiscope/sample beside the program, or in
/// the source tree for an uninstalled build. Empty when neither has it.
QString sampleStorePath();
/// True when `path` is the sample store: it is opened to look at, never recorded into.
bool isSampleStore(const QString& path);
/// A fresh, not yet existing store file in the application data folder (created if needed),
/// named after the current time so that earlier recordings are never overwritten.
QString newStorePath();

}  // namespace optiscope::ui
