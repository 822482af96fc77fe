#pragma once
// The memory categories of DESIGN.md as the charts show them: device categories stack in this
// order (bottom to top), host-side ones are drawn apart. Paged state has two categories that must
// never be confused: "paged, resident" is on the device now (it counts against the card), "paged,
// on host" is in host memory (it does not). Paged-resident is hatched in the variant-neutral
// palette so it reads as "optimizer state, but movable". The driver's cache of evicted managed pages
// is device memory too, but reclaimable: it is drawn apart and counted in no peak.
#include <QBrush>
#include <QColor>
#include <QString>
#include <cstdint>
#include <vector>

#include "store/records.h"

namespace optiscope::ui {

struct MemoryCategory {
  QString name;
  QString explanation;  // for tool tips and the chart's legend tool tip
  QColor color;
  Qt::BrushStyle pattern;
  bool onDevice;
  std::int64_t (*bytes)(const MemorySample&);
  // Device memory that is no part of the run's need: the driver's cache of evicted managed pages,
  // handed back on demand. Drawn above the stack, outlined, and never in a total or a peak.
  bool reclaimable = false;
};

/// One line on what the driver cache is, for the Memory tab and the report.
QString driverCacheExplanation();

const std::vector<MemoryCategory>& memoryCategories();
/// Host-side bytes of a sample: paged state on the host plus pinned offloaded state.
std::int64_t hostBytes(const MemorySample& s);
QBrush categoryBrush(const MemoryCategory& c);

}  // namespace optiscope::ui
