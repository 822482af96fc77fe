#include "charts/chart_kit.h"

#include <qcustomplot.h>

#include <QCoreApplication>
#include <QToolTip>
#include <memory>
#include <optional>

#include "charts/bytes_ticker.h"
#include "charts/category_labels.h"
#include "charts/paper_style.h"

namespace optiscope::ui {
namespace {

QString barValueText(const QCPBars& bars, double value) {
  const QString format = bars.property("format").toString();
  if (format == QLatin1String("bytes")) return formatBytes(std::abs(value));
  if (format == QLatin1String("ms")) return QStringLiteral("%1 ms").arg(value, 0, 'f', 1);
  if (format == QLatin1String("tokens/s")) return QStringLiteral("%1 tokens/s").arg(value, 0, 'f', 0);
  return QString::number(value, 'g', 4);
}

}  // namespace

QCustomPlot* newChartPlot(const QString& title, QWidget* parent) {
  auto* plot = new QCustomPlot(parent);
  applyPaperStyle(*plot);
  plot->plotLayout()->insertRow(0);
  QFont font = plot->font();
  font.setPointSizeF(10.5);
  font.setWeight(QFont::DemiBold);
  auto* titleElement = new QCPTextElement(plot, title, font);
  titleElement->setMargins(QMargins(0, 6, 0, 0));
  plot->plotLayout()->addElement(0, 0, titleElement);
  plot->legend->setVisible(true);
  plot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
  plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom | QCP::iSelectLegend);
  plot->axisRect()->setRangeDrag(Qt::Horizontal);
  plot->axisRect()->setRangeZoom(Qt::Horizontal);
  enableLegendToggles(*plot);
  applyChartColors(*plot, colorsFor(plot->palette()));
  plot->setMinimumSize(200, 150);
  // Room on the right for the last x tick label and end-of-run marks, which overflow the axis rect.
  plot->axisRect()->setMinimumMargins(QMargins(12, 6, 28, 6));
  return plot;
}

void moveLegendOutside(QCustomPlot& plot) {
  if (plot.plotLayout()->hasElement(2, 0)) return;
  plot.axisRect()->insetLayout()->take(plot.legend);
  // A row under the plot, items side by side (three to a row): the width stays with the data.
  plot.plotLayout()->addElement(2, 0, plot.legend);
  plot.plotLayout()->setRowStretchFactor(2, 0.001);
  plot.legend->setFillOrder(QCPLayoutGrid::foColumnsFirst, true);
  plot.legend->setWrap(3);
  plot.legend->setBorderPen(Qt::NoPen);
  plot.legend->setBrush(Qt::NoBrush);
  plot.legend->setColumnSpacing(10);
  plot.legend->setMargins(QMargins(6, 0, 6, 4));
}

void enableLegendToggles(QCustomPlot& plot) {
  QObject::connect(&plot, &QCustomPlot::legendClick, &plot,
                   [&plot](QCPLegend*, QCPAbstractLegendItem* item, QMouseEvent*) {
                     auto* pli = qobject_cast<QCPPlottableLegendItem*>(item);
                     if (!pli) return;
                     const QString name = pli->plottable()->name();
                     const bool show = !pli->plottable()->visible();
                     // Raw and smoothed curves, stacked bars of one category: one name, one switch.
                     for (int i = 0; i < plot.plottableCount(); ++i)
                       if (plot.plottable(i)->name() == name) plot.plottable(i)->setVisible(show);
                     QColor text = plot.legend->textColor();
                     text.setAlpha(show ? 255 : 90);
                     pli->setTextColor(text);
                     pli->setSelected(false);
                     plot.replot();
                   });
}

void linkXAxes(const std::vector<QCustomPlot*>& plots) {
  auto busy = std::make_shared<bool>(false);
  for (QCustomPlot* from : plots) {
    QObject::connect(from->xAxis, qOverload<const QCPRange&>(&QCPAxis::rangeChanged), from,
                     [plots, from, busy](const QCPRange& range) {
                       if (*busy) return;
                       *busy = true;
                       for (QCustomPlot* to : plots) {
                         if (to == from || to->xAxis->range() == range) continue;
                         to->xAxis->setRange(range);
                         to->replot(QCustomPlot::rpQueuedReplot);
                       }
                       *busy = false;
                     });
  }
}

QCPItemText* addPlotNote(QCustomPlot& plot) {
  auto* note = new QCPItemText(&plot);
  note->position->setType(QCPItemPosition::ptAxisRectRatio);
  note->position->setCoords(0.5, 0.5);
  note->setFont(QFont(plot.font().family(), 10));
  note->setTextAlignment(Qt::AlignCenter);
  note->setSelectable(false);
  // A note wider than a small axis rect may use the margins rather than lose both its ends.
  note->setClipToAxisRect(false);
  note->setProperty("mutedText", true);
  note->setColor(colorsFor(plot.palette()).muted);
  note->setVisible(false);
  return note;
}

void enableBarTips(QCustomPlot& plot) {
  plot.setMouseTracking(true);
  QObject::connect(&plot, &QCustomPlot::mouseMove, &plot, [&plot](QMouseEvent* event) {
    if (event->buttons() != Qt::NoButton) return;
    for (int i = plot.plottableCount() - 1; i >= 0; --i) {
      auto* bars = qobject_cast<QCPBars*>(plot.plottable(i));
      if (!bars || !bars->visible()) continue;
      QVariant details;
      if (bars->selectTest(event->position(), false, &details) < 0 ||
          bars->selectTest(event->position(), false) > 1)
        continue;
      const QCPDataSelection sel = details.value<QCPDataSelection>();
      if (sel.isEmpty()) continue;
      const auto it = bars->data()->at(sel.dataRange().begin());
      // The whole category name: the label under the axis may be wrapped or elided.
      QString key = categoryLabel(plot, it->key);
      if (key.isEmpty())
        if (auto text = bars->keyAxis()->ticker().dynamicCast<QCPAxisTickerText>())
          key = text->ticks().value(it->key);
      key.replace(QLatin1Char('\n'), QLatin1Char(' '));
      QToolTip::showText(
          event->globalPosition().toPoint(),
          QStringLiteral("<b>%1</b><br>%2: %3")
              .arg(key.toHtmlEscaped(), bars->name().toHtmlEscaped(), barValueText(*bars, it->value)),
          &plot);
      return;
    }
    // Under the axis rect, over the category labels: the whole label of the nearest category.
    const QRect rect = plot.axisRect()->rect();
    const QPointF at = event->position();
    if (at.y() > rect.bottom() && at.x() >= rect.left() && at.x() <= rect.right()) {
      const QString label = categoryLabel(plot, plot.xAxis->pixelToCoord(at.x()));
      if (!label.isEmpty()) {
        QToolTip::showText(event->globalPosition().toPoint(),
                           label.toHtmlEscaped().replace(QLatin1Char('\n'), QStringLiteral("<br>")), &plot);
        return;
      }
    }
    QToolTip::hideText();
  });
}

QCPBars* addOomOutlineBars(QCustomPlot& plot, const QColor& alarm) {
  auto* bars = new QCPBars(plot.xAxis, plot.yAxis);
  bars->setName(QCoreApplication::translate("ChartKit", "needed at OOM"));
  bars->setProperty("format", QStringLiteral("bytes"));
  bars->setPen(QPen(alarm, 2, Qt::DashLine));
  bars->setBrush(Qt::NoBrush);
  bars->setWidth(0.7);
  return bars;
}

namespace {

/// The smallest value drawn against `axis`, if anything visible is.
std::optional<double> lowestValueOn(QCustomPlot& plot, const QCPAxis* axis) {
  std::optional<double> lowest;
  for (int i = 0; i < plot.plottableCount(); ++i) {
    const QCPAbstractPlottable* p = plot.plottable(i);
    if (p->valueAxis() != axis || !p->visible()) continue;
    bool found = false;
    const QCPRange r = p->getValueRange(found);
    if (found) lowest = std::min(lowest.value_or(r.lower), r.lower);
  }
  return lowest;
}

}  // namespace

void rescaleAll(QCustomPlot& plot, bool includeZero) {
  plot.rescaleAxes(true);
  for (QCPAxis* axis : {plot.yAxis, plot.yAxis2}) {
    if (!axis->visible()) continue;
    QCPRange r = axis->range();
    // QCustomPlot centres a flat series on its value: all-zero counts would get a negative half.
    if (const auto lowest = lowestValueOn(plot, axis); lowest && *lowest >= 0 && r.lower < 0) {
      r.lower = 0;
      if (r.upper <= 0) r.upper = 1;
    }
    if (includeZero) r.expand(0.0);
    const double pad = std::max(r.size() * 0.06, 1e-9);
    axis->setRange(r.lower < 0 ? r.lower - pad : r.lower, r.upper + pad);
  }
}

}  // namespace optiscope::ui
