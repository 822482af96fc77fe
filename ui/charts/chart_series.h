#pragma once
// How a run looks on every chart: its legend text, its colour (fixed per variant) and its line
// style (one per comparison, so two comparisons of the same variants can share a chart).
#include <QColor>
#include <QString>
#include <cstdint>
#include <vector>

#include "store/records.h"

namespace optiscope::ui {

struct ChartSeries {
  std::int64_t run_id = 0;
  QString optim;
  QString label;
  QColor color;
  Qt::PenStyle style = Qt::SolidLine;
};

/// The variant as legends and the runs panel name it: the optimizer, and for a run over several
/// ranks how many and how its state is sharded ("adamw_8bit × 2 ranks, ZeRO 1").
QString variantName(const RunInfo& run);

/// Labels are the bare variant names while they are unique, and name the comparison when the same
/// variant appears more than once.
std::vector<ChartSeries> seriesForRuns(const std::vector<RunInfo>& runs);

}  // namespace optiscope::ui
