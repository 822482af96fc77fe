#include "charts/category_labels.h"

#include <qcustomplot.h>

#include <QFontMetrics>
#include <cmath>

namespace optiscope::ui {
namespace {

constexpr const char* kLabelsProperty = "categoryLabels";
constexpr const char* kFittedProperty = "categoryLabelsFitted";
// Space kept free between two neighbouring labels.
constexpr int kGap = 6;

// Pieces of one line that may start a new line: after '_', '-' or ' '.
QStringList breakable(const QString& line) {
  QStringList pieces;
  QString piece;
  for (const QChar c : line) {
    piece += c;
    if (c == QLatin1Char('_') || c == QLatin1Char('-') || c == QLatin1Char(' ')) {
      pieces << piece;
      piece.clear();
    }
  }
  if (!piece.isEmpty()) pieces << piece;
  return pieces;
}

QStringList fitLine(const QString& line, const QFontMetrics& fm, int width) {
  if (fm.horizontalAdvance(line) <= width) return {line};
  QStringList out;
  QString current;
  for (const QString& piece : breakable(line)) {
    if (!current.isEmpty() && fm.horizontalAdvance(current + piece) > width) {
      out << current;
      current.clear();
    }
    current += piece;
  }
  if (!current.isEmpty()) out << current;
  for (QString& l : out) {
    l = l.trimmed();
    if (fm.horizontalAdvance(l) > width) l = fm.elidedText(l, Qt::ElideMiddle, width);
  }
  return out;
}

// Fits the labels to the slot the last layout gave each category; true when they changed.
bool refit(QCustomPlot& plot) {
  const QStringList labels = plot.property(kLabelsProperty).toStringList();
  auto ticker = plot.xAxis->ticker().dynamicCast<QCPAxisTickerText>();
  if (!ticker) return false;
  // The slot of one category in pixels: the axis rect's width over the visible key range. Before
  // the first layout the rect has no width yet; the viewport's, less typical margins, stands in.
  const int rectWidth =
      plot.axisRect()->width() > 50 ? plot.axisRect()->width() : plot.viewport().width() - 80;
  const double range = std::max(plot.xAxis->range().size(), 1e-9);
  const int slot = std::max(24, static_cast<int>(rectWidth / range) - kGap);
  const QFont font = plot.xAxis->tickLabelFont();
  const QString key =
      QStringLiteral("%1|%2|%3").arg(slot).arg(font.toString(), labels.join(QLatin1Char('\x1f')));
  if (plot.property(kFittedProperty).toString() == key) return false;
  plot.setProperty(kFittedProperty, key);
  ticker->clear();
  for (int i = 0; i < labels.size(); ++i) ticker->addTick(i + 1, fitLabel(labels[i], font, slot));
  return true;
}

}  // namespace

QString fitLabel(const QString& text, const QFont& font, int width) {
  const QFontMetrics fm(font);
  QStringList lines;
  for (const QString& line : text.split(QLatin1Char('\n'))) lines << fitLine(line, fm, width);
  return lines.join(QLatin1Char('\n'));
}

void setCategoryLabels(QCustomPlot& plot, const QStringList& labels) {
  plot.setProperty(kLabelsProperty, labels);
  plot.setProperty(kFittedProperty, QString());
  if (!plot.xAxis->ticker().dynamicCast<QCPAxisTickerText>())
    plot.xAxis->setTicker(QSharedPointer<QCPAxisTickerText>::create());
  plot.xAxis->setTickLabelRotation(0);
  if (!plot.property("categoryLabelsConnected").toBool()) {
    plot.setProperty("categoryLabelsConnected", true);
    // After every layout (a replot, a resize, an export through toPixmap at another size): once the
    // axis rect has its width, refit, and lay out again when the labels changed, so that the picture
    // drawn next already has them.
    QObject::connect(&plot, &QCustomPlot::afterLayout, &plot, [&plot] {
      if (!refit(plot)) return;
      for (const auto phase :
           {QCPLayoutElement::upPreparation, QCPLayoutElement::upMargins, QCPLayoutElement::upLayout})
        plot.plotLayout()->update(phase);
    });
  }
  refit(plot);
}

QString categoryLabel(const QCustomPlot& plot, double key) {
  const QStringList labels = plot.property(kLabelsProperty).toStringList();
  const long i = std::lround(key) - 1;
  return i >= 0 && i < labels.size() ? labels[static_cast<int>(i)] : QString();
}

}  // namespace optiscope::ui
