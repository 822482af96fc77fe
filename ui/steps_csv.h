#pragma once
// The steps of some runs as one CSV table, for spreadsheets and scripts:
// run,optim,step,loss,lr,step_ms,tokens,mem_bytes
#include <QString>
#include <vector>

#include "store/records.h"

class QIODevice;

namespace optiscope {
class Store;
}

namespace optiscope::ui {

/// Writes the header and every step of `runs`, read from `store`. Returns an empty string on
/// success, else a message for the user.
QString writeStepsCsv(const Store& store, const std::vector<RunInfo>& runs, QIODevice& out);
QString writeStepsCsv(const Store& store, const std::vector<RunInfo>& runs, const QString& path);

}  // namespace optiscope::ui
