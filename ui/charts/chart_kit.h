#pragma once
// Small pieces every chart tab assembles its plots from: a styled plot with a title, legend items
// that hide and show their series when clicked, tool tips for bars, x axes that move together.
#include <QString>
#include <vector>

class QColor;
class QCustomPlot;
class QCPAbstractPlottable;
class QCPBars;
class QCPItemText;
class QWidget;

namespace optiscope::ui {

/// A plot in the paper style, with a title row, zoom and pan on the x axis (the wheel over the y
/// axis zooms y), and legend toggles.
QCustomPlot* newChartPlot(const QString& title, QWidget* parent);
/// Puts the legend in rows under the plot, where it covers no data (stacked areas and bars fill the
/// whole plot).
void moveLegendOutside(QCustomPlot& plot);
/// Clicking a legend item hides its plottable (and its stacked or companion plottables that share
/// its name); clicking again shows it. The item is greyed out meanwhile.
void enableLegendToggles(QCustomPlot& plot);
/// Moving or zooming the x axis of one plot moves all of them (one time range for a tab).
void linkXAxes(const std::vector<QCustomPlot*>& plots);
/// A centred note on an empty or not-applicable plot (e.g. "no capture on CPU runs").
QCPItemText* addPlotNote(QCustomPlot& plot);
/// Hover tool tips for bar charts: the series name, the bar's label and value (as formatted by
/// the bar's "format" property: "bytes", "ms", "tokens/s", or plain); over the category labels
/// (setCategoryLabels), the whole label.
void enableBarTips(QCustomPlot& plot);
/// The dashed outline of what a run asked for when it ran out of memory ("needed at OOM"), in
/// `alarm`, bytes on hover. One series holds every such run's bar (addData), so the legend names
/// it once.
QCPBars* addOomOutlineBars(QCustomPlot& plot, const QColor& alarm);
/// Rescales value axes to the visible plottables, keys to all of them, with a little headroom.
void rescaleAll(QCustomPlot& plot, bool includeZero = true);

}  // namespace optiscope::ui
