#include "chart_export.h"

#include <qcustomplot.h>
#include <QCoreApplication>
#include <QFileInfo>
#include <QSvgGenerator>

#include "charts/paper_style.h"

namespace optiscope::ui {
namespace {

// QCustomPlot has no SVG output of its own: paint it onto an SVG "device" with a QCPPainter told
// to draw vectors (no pixmap caching, no cosmetic pens that would scale oddly).
bool saveSvg(QCustomPlot& plot, const QString& path, QSize size, const QString& title) {
  QSvgGenerator svg;
  svg.setFileName(path);
  svg.setSize(size);
  svg.setViewBox(QRect(QPoint(0, 0), size));
  svg.setTitle(title);
  svg.setDescription(QStringLiteral("Exported by Optiscope %1").arg(QCoreApplication::applicationVersion()));
  QCPPainter painter;
  if (!painter.begin(&svg)) return false;
  painter.setMode(QCPPainter::pmVectorized);
  painter.setMode(QCPPainter::pmNoCaching);
  painter.setMode(QCPPainter::pmNonCosmetic);
  plot.toPainter(&painter, size.width(), size.height());
  return painter.end();
}

}  // namespace

QString chartExportFilter() {
  return QStringLiteral("PNG image (*.png);;SVG vector image (*.svg);;PDF document (*.pdf)");
}

QString exportChart(QCustomPlot& plot, const QString& path, QSize size, const QString& title) {
  const QString suffix = QFileInfo(path).suffix().toLower();
  bool ok = false;
  if (suffix != QLatin1String("png") && suffix != QLatin1String("svg") && suffix != QLatin1String("pdf"))
    return QStringLiteral("Cannot export to \"%1\": the name must end in .png, .svg or .pdf.").arg(path);
  // Figures go on paper: light colours whatever the desktop theme; the screen look comes back after.
  applyChartColors(plot, paperColors());
  if (suffix == QLatin1String("png")) {
    ok = plot.savePng(path, size.width(), size.height(), 2.0);
  } else if (suffix == QLatin1String("svg")) {
    ok = saveSvg(plot, path, size, title);
  } else if (suffix == QLatin1String("pdf")) {
    ok = plot.savePdf(path, size.width(), size.height(), QCP::epNoCosmetic, QStringLiteral("Optiscope"),
                      title);
  } else {
    return QStringLiteral("Cannot export to \"%1\": the name must end in .png, .svg or .pdf.").arg(path);
  }
  // QCustomPlot restores its on-screen size after painting elsewhere; repaint so nothing lingers.
  applyChartColors(plot, colorsFor(plot.palette()));
  plot.replot();
  if (!ok)
    return QStringLiteral("Could not write %1: check that the folder exists and is writable.").arg(path);
  return {};
}

}  // namespace optiscope::ui
