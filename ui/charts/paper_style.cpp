#include "paper_style.h"

#include <qcustomplot.h>

#include <QPalette>

namespace optiscope::ui {
namespace {

void styleAxis(QCPAxis& axis, const QFont& tickFont, const QFont& labelFont) {
  axis.setTickLabelFont(tickFont);
  axis.setLabelFont(labelFont);
  axis.setTickLengthIn(0);
  axis.setTickLengthOut(5);
  axis.setSubTickLengthIn(0);
  axis.setSubTickLengthOut(2);
  axis.setPadding(6);
  axis.grid()->setSubGridVisible(false);
  axis.grid()->setZeroLinePen(Qt::NoPen);
}

void colorAxis(QCPAxis& axis, const ChartColors& c) {
  const QPen axisPen(c.ink, 1);
  axis.setBasePen(axisPen);
  axis.setTickPen(axisPen);
  axis.setSubTickPen(axisPen);
  axis.setTickLabelColor(c.ink);
  axis.setLabelColor(c.ink);
  axis.grid()->setPen(QPen(c.grid, 1, Qt::SolidLine));
}

}  // namespace

ChartColors paperColors() {
  return {Qt::white,
          QColor(0x33, 0x33, 0x33),
          QColor(0x80, 0x80, 0x80),
          QColor(0xE3, 0xE3, 0xE3),
          QColor(0xB8, 0xB8, 0xB8),
          QColor(255, 255, 255, 235),
          false};
}

ChartColors colorsFor(const QPalette& palette) {
  const QColor window = palette.color(QPalette::Window);
  const QColor text = palette.color(QPalette::WindowText);
  if (window.lightness() >= text.lightness()) return paperColors();
  return {QColor(0x20, 0x22, 0x25),
          QColor(0xDD, 0xDD, 0xDD),
          QColor(0x99, 0x99, 0x99),
          QColor(0x3A, 0x3D, 0x42),
          QColor(0x60, 0x60, 0x60),
          QColor(0x2A, 0x2C, 0x30, 235),
          true};
}

void applyPaperStyle(QCustomPlot& plot) {
  QFont base = plot.font();
  QFont tickFont = base;
  tickFont.setPointSizeF(9.0);
  QFont labelFont = base;
  labelFont.setPointSizeF(10.0);

  plot.setAntialiasedElements(QCP::aePlottables | QCP::aeItems | QCP::aeLegendItems | QCP::aeAxes |
                              QCP::aeFills);
  plot.setNotAntialiasedElements(QCP::aeGrid);
  // Dragging many antialiased points stays smooth this way; the still picture is crisp.
  plot.setNoAntialiasingOnDrag(true);
  styleAxis(*plot.xAxis, tickFont, labelFont);
  styleAxis(*plot.yAxis, tickFont, labelFont);
  styleAxis(*plot.yAxis2, tickFont, labelFont);
  // A light frame on the top, without ticks: the box of a printed figure.
  plot.xAxis2->setVisible(true);
  plot.xAxis2->setTicks(false);
  plot.xAxis2->setTickLabels(false);
  plot.xAxis2->grid()->setVisible(false);

  QFont legendFont = base;
  legendFont.setPointSizeF(9.0);
  plot.legend->setFont(legendFont);
  // Taller than the text: a legend item clips to its own height, which cuts off the underscores of
  // names like adamw_8bit when the item is only as tall as the font.
  plot.legend->setIconSize(26, 16);
  plot.legend->setRowSpacing(0);
  plot.legend->setMargins(QMargins(6, 3, 6, 3));
  plot.legend->setSelectableParts(QCPLegend::spItems);
  applyChartColors(plot, paperColors());
}

void applyChartColors(QCustomPlot& plot, const ChartColors& c) {
  plot.setBackground(c.background);
  plot.axisRect()->setBackground(c.background);
  for (QCPAxisRect* rect : plot.axisRects()) {
    rect->setBackground(c.background);
    for (QCPAxis* axis : rect->axes()) colorAxis(*axis, c);
  }
  plot.xAxis2->setBasePen(QPen(c.frame, 1));
  plot.legend->setTextColor(c.ink);
  // A legend over the data gets a fill to stand out from it; one in a row of its own under the plot
  // (moveLegendOutside) shows the background, or a dark theme draws it as a lighter band.
  const bool inset = plot.legend->layout() == plot.axisRect()->insetLayout();
  plot.legend->setBrush(inset ? QBrush(c.legendFill) : QBrush(Qt::NoBrush));
  if (plot.legend->borderPen() != Qt::NoPen) plot.legend->setBorderPen(QPen(c.frame, 1));
  plot.legend->setSelectedTextColor(c.ink);
  for (int i = 0; i < plot.plotLayout()->elementCount(); ++i)
    if (auto* text = qobject_cast<QCPTextElement*>(plot.plotLayout()->elementAt(i)))
      text->setTextColor(c.ink);
  for (int i = 0; i < plot.itemCount(); ++i) {
    auto* text = qobject_cast<QCPItemText*>(plot.item(i));
    // Hover labels and annotations that carry a colour of their own (a variant's) keep it.
    if (text && text->property("inkText").toBool()) text->setColor(c.ink);
    if (text && text->property("mutedText").toBool()) text->setColor(c.muted);
    if (text && text->property("inkText").toBool() && text->brush() != Qt::NoBrush)
      text->setBrush(c.legendFill);
  }
}

}  // namespace optiscope::ui
