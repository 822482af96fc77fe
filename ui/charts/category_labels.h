#pragma once
// Category labels under bar charts that never overlap. Each label gets the width of its bar's slot
// (one key unit in pixels); a name wider than that wraps after its underscores
// ("paged_adamw_" / "32bit"), and a piece that still does not fit is elided in the middle, with the
// whole label in a tool tip over the label and over the bar (enableBarTips). Refitted after every
// layout, so a narrower window, a zoom or an export at another size keeps the labels apart.
#include <QString>
#include <QStringList>

class QCustomPlot;
class QFont;

namespace optiscope::ui {

/// Puts labels[i] under key i + 1 of the plot's x axis (lines separated by '\n').
void setCategoryLabels(QCustomPlot& plot, const QStringList& labels);
/// The whole label of the category at `key` (the nearest whole key), or an empty string.
QString categoryLabel(const QCustomPlot& plot, double key);
/// `text` fitted into `width` pixels in `font`: each line wrapped after underscores, hyphens and
/// spaces where needed, pieces still too wide elided in the middle.
QString fitLabel(const QString& text, const QFont& font, int width);

}  // namespace optiscope::ui
