#pragma once
// The one look every Optiscope chart shares: light grid, clear axes, readable fonts. On screen it
// follows the window palette (dark themes get dark charts); exports always use the light "paper"
// colours, so a figure pasted into a report looks the same whatever the desktop theme.
#include <QColor>

class QCustomPlot;
class QPalette;

namespace optiscope::ui {

struct ChartColors {
  QColor background;
  QColor ink;    // axes, tick labels, titles
  QColor muted;  // notes, empty-chart hints
  QColor grid;
  QColor frame;
  QColor legendFill;
  bool dark = false;
};

ChartColors paperColors();
/// Paper colours on a light palette, dark ones on a dark palette (Window darker than its text).
ChartColors colorsFor(const QPalette& palette);

/// Fonts, axes, legend and interactions; call once per plot.
void applyPaperStyle(QCustomPlot& plot);
/// Recolours axes, grid, legend, title elements and text items; call again on palette changes.
void applyChartColors(QCustomPlot& plot, const ChartColors& colors);

}  // namespace optiscope::ui
