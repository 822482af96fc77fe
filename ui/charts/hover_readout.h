#pragma once
// The hover read-out of a chart: a ring on the data point nearest the mouse and a small label
// with what that point is. It lives on QCustomPlot's buffered "overlay" layer, so following the
// mouse repaints that layer only, not the curves.
#include <QObject>
#include <QString>
#include <functional>

class QCustomPlot;
class QCPGraph;
class QCPItemTracer;
class QCPItemText;
class QMouseEvent;

namespace optiscope::ui {

class HoverReadout : public QObject {
  Q_OBJECT

 public:
  /// Text for the label of the point (key, value) of a graph.
  using Formatter = std::function<QString(const QCPGraph& graph, double key, double value)>;

  HoverReadout(QCustomPlot& plot, Formatter formatter);

  /// Hides the read-out; call before the chart's graphs change or the chart is exported.
  void hide();
  bool isShown() const;

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  void follow(const QMouseEvent& event);

  QCustomPlot& plot_;
  Formatter formatter_;
  QCPItemTracer* tracer_;
  QCPItemText* label_;
};

}  // namespace optiscope::ui
