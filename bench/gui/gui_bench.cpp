// Times the GUI on a large store: from program start to the first painted chart (open_s), and the
// redraw rate while panning the learning curves (pan_fps). Prints one JSON object.
//
//   optiscope_gui_bench STORE [pan_frames]
//
// Run it under Xvfb (bench/gui/run_gui_bench.sh) so the numbers include real painting.
#include <qcustomplot.h>

#include <QApplication>
#include <QElapsedTimer>
#include <QTabWidget>
#include <cstdio>

#include "main_window.h"
#include "tabs/learning_tab.h"

namespace {

class FirstPaint : public QObject {
 public:
  bool painted = false;

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override {
    if (event->type() == QEvent::Paint) painted = true;
    return QObject::eventFilter(watched, event);
  }
};

}  // namespace

int main(int argc, char* argv[]) {
  QElapsedTimer clock;
  clock.start();
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s STORE [pan_frames]\n", argv[0]);
    return 2;
  }
  QApplication app(argc, argv);
  QApplication::setOrganizationName(QStringLiteral("OptiscopeBench"));
  const int frames = argc > 2 ? std::atoi(argv[2]) : 120;
  optiscope::ui::MainWindow window;
  window.setInteractive(false);
  window.tabs().setCurrentIndex(0);
  window.resize(1440, 880);
  FirstPaint first;
  window.learningTab().lossPlot().installEventFilter(&first);
  window.show();
  const double shownS = static_cast<double>(clock.nsecsElapsed()) / 1e9;
  if (!window.openStore(QString::fromLocal8Bit(argv[1]))) return 1;
  const double openedS = static_cast<double>(clock.nsecsElapsed()) / 1e9;
  while (!first.painted || window.learningTab().lossPlot().graphCount() == 0) QApplication::processEvents();
  // One more paint after the data: the first paint may have been the empty frame.
  first.painted = false;
  window.learningTab().lossPlot().replot();
  while (!first.painted) QApplication::processEvents();
  const double openS = static_cast<double>(clock.nsecsElapsed()) / 1e9;

  // Panning as the user does it: a mouse drag across the plot, a few pixels per frame; QCustomPlot
  // replots on each move (without antialiasing while dragging, as on screen).
  QCustomPlot& plot = window.learningTab().lossPlot();
  const QCPRange full = plot.xAxis->range();
  plot.xAxis->setRange(full.lower, full.lower + full.size() / 4);
  plot.replot();
  const QPointF start = plot.axisRect()->rect().center();
  QMouseEvent press(QEvent::MouseButtonPress, start, plot.mapToGlobal(start), Qt::LeftButton, Qt::LeftButton,
                    Qt::NoModifier);
  QApplication::sendEvent(&plot, &press);
  QElapsedTimer pan;
  pan.start();
  for (int f = 0; f < frames; ++f) {
    first.painted = false;
    const QPointF at = start - QPointF(3.0 * (f + 1), 0);
    QMouseEvent move(QEvent::MouseMove, at, plot.mapToGlobal(at), Qt::NoButton, Qt::LeftButton,
                     Qt::NoModifier);
    QApplication::sendEvent(&plot, &move);
    while (!first.painted) QApplication::processEvents();
  }
  const double panFps = frames / (static_cast<double>(pan.nsecsElapsed()) / 1e9);
  std::printf(
      "{\"open_s\": %.3f, \"pan_fps\": %.1f, \"frames\": %d, \"points\": %d, \"window_shown_s\": %.3f, "
      "\"store_read_s\": %.3f, \"loss_replot_ms\": %.1f, \"diff_replot_ms\": %.1f}\n",
      openS, panFps, frames, plot.graph(0)->dataCount(), shownS, openedS - shownS, plot.replotTime(true),
      window.learningTab().diffPlot().replotTime(true));
  return 0;
}
