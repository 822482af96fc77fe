#pragma once
// Chart export for reports and papers: PNG at twice the screen size, SVG and PDF as vectors.
// The file type follows the file name's suffix.
#include <QSize>
#include <QString>

class QCustomPlot;

namespace optiscope::ui {

/// The file dialog filter listing the formats exportChart() writes.
QString chartExportFilter();

/// Writes the chart at `size` (logical pixels; PNG gets twice as many). Returns an empty string
/// on success, else a sentence for the user saying what went wrong.
QString exportChart(QCustomPlot& plot, const QString& path, QSize size, const QString& title);

}  // namespace optiscope::ui
