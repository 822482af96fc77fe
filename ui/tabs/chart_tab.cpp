#include "tabs/chart_tab.h"

#include <qcustomplot.h>

#include <QEvent>
#include <QFile>
#include <QFileDialog>
#include <QMenu>
#include <QMessageBox>

#include "charts/chart_export.h"
#include "charts/chart_kit.h"
#include "charts/paper_style.h"

namespace optiscope::ui {

void ChartTab::resetView() {
  for (const auto& p : plots_) {
    rescaleAll(*p.plot);
    p.plot->replot();
  }
}

QCustomPlot* ChartTab::addPlot(const QString& name, const QString& title) {
  QCustomPlot* plot = newChartPlot(title, this);
  plot->setObjectName(name);
  plots_.push_back({name, plot});
  plot->setContextMenuPolicy(Qt::CustomContextMenu);
  connect(plot, &QWidget::customContextMenuRequested, this, [this, plot, name](const QPoint& at) {
    QMenu menu(this);
    menu.addAction(tr("Reset view"), this, &ChartTab::resetView);
    menu.addSeparator();
    for (const char* suffix : {"png", "svg", "pdf"}) {
      const QString s = QString::fromLatin1(suffix);
      menu.addAction(tr("Export as %1…").arg(s.toUpper()), this,
                     [this, plot, name, s] { exportPlot(plot, name, s); });
    }
    if (!dataCsv().isEmpty())
      menu.addAction(tr("Export data as CSV…"), this, [this, name] { exportCsv(name); });
    menu.exec(plot->mapToGlobal(at));
  });
  connect(plot, &QCustomPlot::mouseDoubleClick, this, &ChartTab::resetView);
  return plot;
}

void ChartTab::exportPlot(QCustomPlot* plot, const QString& name, const QString& suffix) {
  QString path = QFileDialog::getSaveFileName(this, tr("Export chart"), name + QLatin1Char('.') + suffix,
                                              chartExportFilter());
  if (path.isEmpty()) return;
  if (QFileInfo(path).suffix().isEmpty()) path += QLatin1Char('.') + suffix;
  const QString error = exportChart(*plot, path, plot->size().expandedTo(QSize(720, 450)), name);
  if (!error.isEmpty()) QMessageBox::critical(this, tr("Export chart"), error);
}

void ChartTab::exportCsv(const QString& name) {
  const QString path = QFileDialog::getSaveFileName(this, tr("Export data"), name + QStringLiteral(".csv"),
                                                    tr("CSV table (*.csv)"));
  if (path.isEmpty()) return;
  QFile file(path);
  if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate) || file.write(dataCsv().toUtf8()) < 0)
    QMessageBox::critical(this, tr("Export data"), tr("Could not write %1.").arg(path));
}

void ChartTab::changeEvent(QEvent* event) {
  QWidget::changeEvent(event);
  if (event->type() == QEvent::PaletteChange) {
    for (const auto& p : plots_) applyChartColors(*p.plot, colorsFor(palette()));
    replotAll();
  }
}

void ChartTab::replotAll() {
  for (const auto& p : plots_) p.plot->replot();
}

}  // namespace optiscope::ui
