#include "paper_style.h"

#include <qcustomplot.h>

namespace optiscope::ui {
namespace {

void styleAxis(QCPAxis& axis, const QFont& tickFont, const QFont& labelFont) {
  const QColor ink(0x33, 0x33, 0x33);
  const QPen axisPen(ink, 1);
  axis.setBasePen(axisPen);
  axis.setTickPen(axisPen);
  axis.setSubTickPen(axisPen);
  axis.setTickLabelColor(ink);
  axis.setLabelColor(ink);
  axis.setTickLabelFont(tickFont);
  axis.setLabelFont(labelFont);
  axis.setTickLengthIn(0);
  axis.setTickLengthOut(5);
  axis.setSubTickLengthIn(0);
  axis.setSubTickLengthOut(2);
  axis.setPadding(6);
  axis.grid()->setPen(QPen(QColor(0xE3, 0xE3, 0xE3), 1, Qt::SolidLine));
  axis.grid()->setSubGridVisible(false);
  axis.grid()->setZeroLinePen(Qt::NoPen);
}

}  // namespace

void applyPaperStyle(QCustomPlot& plot) {
  QFont base = plot.font();
  QFont tickFont = base;
  tickFont.setPointSizeF(9.5);
  QFont labelFont = base;
  labelFont.setPointSizeF(10.5);

  plot.setBackground(Qt::white);
  plot.axisRect()->setBackground(Qt::white);
  plot.setAntialiasedElements(QCP::aePlottables | QCP::aeItems | QCP::aeLegendItems | QCP::aeAxes);
  plot.setNotAntialiasedElements(QCP::aeGrid);
  // Dragging a few thousand antialiased points stays smooth this way; the still picture is crisp.
  plot.setNoAntialiasingOnDrag(true);

  styleAxis(*plot.xAxis, tickFont, labelFont);
  styleAxis(*plot.yAxis, tickFont, labelFont);
  // A light frame on the other two sides, without ticks: the box of a printed figure.
  plot.axisRect()->setupFullAxesBox(true);
  for (QCPAxis* frame : {plot.xAxis2, plot.yAxis2}) {
    frame->setBasePen(QPen(QColor(0xB8, 0xB8, 0xB8), 1));
    frame->setTicks(false);
    frame->setTickLabels(false);
    frame->grid()->setVisible(false);
  }

  QFont legendFont = base;
  legendFont.setPointSize(10);
  plot.legend->setFont(legendFont);
  plot.legend->setTextColor(QColor(0x22, 0x22, 0x22));
  plot.legend->setBrush(QColor(255, 255, 255, 235));
  plot.legend->setBorderPen(QPen(QColor(0xC8, 0xC8, 0xC8), 1));
  // Taller than the text: a legend item clips to its own height, which cuts off the underscores of
  // names like adamw_8bit when the item is only as tall as the font.
  plot.legend->setIconSize(30, 20);
  plot.legend->setRowSpacing(0);
  plot.legend->setMargins(QMargins(8, 5, 8, 5));
}

}  // namespace optiscope::ui
