#pragma once
// The one look every Optiscope chart shares: white paper, light grid, dark axes, readable fonts.
// It is the look of the exported figures too, so what the user sees is what goes into a report.
class QCustomPlot;

namespace optiscope::ui {

void applyPaperStyle(QCustomPlot& plot);

}  // namespace optiscope::ui
