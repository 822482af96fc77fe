#include "hover_readout.h"

#include <qcustomplot.h>

#include "charts/paper_style.h"

#include <cmath>
#include <limits>
#include <utility>

namespace optiscope::ui {
namespace {

// Beyond this distance (pixels) the mouse is not pointing at any curve.
constexpr double kReach = 40.0;

struct Nearest {
  QCPGraph* graph = nullptr;
  double key = 0;
  double value = 0;
  double distance = std::numeric_limits<double>::max();
};

// The visible point closest to the mouse: only the points around the mouse's key are candidates,
// found by binary search, so a curve of any length costs a few comparisons.
Nearest nearestPoint(QCustomPlot& plot, const QPointF& mouse) {
  Nearest best;
  for (int i = 0; i < plot.graphCount(); ++i) {
    QCPGraph* g = plot.graph(i);
    if (!g->visible() || g->data()->isEmpty()) continue;
    const double key = g->keyAxis()->pixelToCoord(mouse.x());
    const double slack = std::abs(g->keyAxis()->pixelToCoord(mouse.x() + kReach) - key);
    auto it = g->data()->findBegin(key - slack);
    const auto end = g->data()->findEnd(key + slack);
    for (; it != end; ++it) {
      const QPointF p = g->coordsToPixels(it->key, it->value);
      const double d = std::hypot(p.x() - mouse.x(), p.y() - mouse.y());
      if (d < best.distance) best = {g, it->key, it->value, d};
    }
  }
  return best;
}

}  // namespace

HoverReadout::HoverReadout(QCustomPlot& plot, Formatter formatter)
    : QObject(&plot),
      plot_(plot),
      formatter_(std::move(formatter)),
      tracer_(new QCPItemTracer(&plot)),
      label_(new QCPItemText(&plot)) {
  for (QCPAbstractItem* item :
       {static_cast<QCPAbstractItem*>(tracer_), static_cast<QCPAbstractItem*>(label_)}) {
    item->setLayer(QStringLiteral("overlay"));
    item->setSelectable(false);
    item->setVisible(false);
  }
  // Positioned by coordinates rather than attached to a graph: graphs come and go, the tracer stays.
  tracer_->setGraph(nullptr);
  tracer_->setStyle(QCPItemTracer::tsCircle);
  tracer_->setSize(9);
  tracer_->setBrush(Qt::white);
  label_->setClipToAxisRect(false);
  label_->position->setType(QCPItemPosition::ptAbsolute);
  label_->setPadding(QMargins(6, 4, 6, 4));
  label_->setBrush(QColor(255, 255, 255, 240));
  label_->setTextAlignment(Qt::AlignLeft);
  plot.setMouseTracking(true);
  plot.installEventFilter(this);
}

void HoverReadout::hide() {
  if (!isShown()) return;
  tracer_->setVisible(false);
  label_->setVisible(false);
  plot_.layer(QStringLiteral("overlay"))->replot();
}

bool HoverReadout::isShown() const {
  return tracer_->visible();
}

bool HoverReadout::eventFilter(QObject* watched, QEvent* event) {
  if (watched == &plot_) {
    if (event->type() == QEvent::MouseMove) {
      const auto& mouse = static_cast<const QMouseEvent&>(*event);
      // While a button is down the user drags the view; a read-out would only flicker.
      if (mouse.buttons() == Qt::NoButton)
        follow(mouse);
      else
        hide();
    } else if (event->type() == QEvent::Leave) {
      hide();
    }
  }
  return QObject::eventFilter(watched, event);
}

void HoverReadout::follow(const QMouseEvent& event) {
  const QPointF mouse = event.position();
  const Nearest hit =
      plot_.axisRect()->rect().contains(mouse.toPoint()) ? nearestPoint(plot_, mouse) : Nearest{};
  if (!hit.graph || hit.distance > kReach) {
    hide();
    return;
  }
  QColor color = hit.graph->pen().color();
  color.setAlpha(255);
  tracer_->position->setAxes(hit.graph->keyAxis(), hit.graph->valueAxis());
  tracer_->position->setCoords(hit.key, hit.value);
  tracer_->setPen(QPen(color, 2));
  label_->setText(formatter_(*hit.graph, hit.key, hit.value));
  // The callout takes the chart's own colours, light or dark.
  const ChartColors colors = colorsFor(plot_.palette());
  label_->setColor(colors.ink);
  label_->setBrush(colors.legendFill);
  tracer_->setBrush(colors.background);
  label_->setPen(QPen(color, 1));

  // Put the label up and to the right of the point, or on the other side near the edges.
  const QPointF point = hit.graph->coordsToPixels(hit.key, hit.value);
  const QRect area = plot_.axisRect()->rect();
  const bool left = point.x() > area.center().x() + area.width() / 4;
  const bool below = point.y() < area.top() + 70;
  label_->setPositionAlignment((left ? Qt::AlignRight : Qt::AlignLeft) |
                               (below ? Qt::AlignTop : Qt::AlignBottom));
  label_->position->setCoords(point.x() + (left ? -12 : 12), point.y() + (below ? 12 : -12));
  tracer_->setVisible(true);
  label_->setVisible(true);
  plot_.layer(QStringLiteral("overlay"))->replot();
}

}  // namespace optiscope::ui
