#pragma once
// How a run's outcome reads in the runs panel: "completed", "oom at step 57", "failed", ...
#include <QString>

#include "store/records.h"

namespace optiscope::ui {

QString outcomeText(const RunInfo& run);
/// The longer explanation for a tooltip: the failure message, the memory at an OOM.
QString outcomeDetailText(const RunInfo& run);

}  // namespace optiscope::ui
