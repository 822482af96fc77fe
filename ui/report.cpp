#include "report.h"

#include <qcustomplot.h>

#include <QFileInfo>
#include <QImage>
#include <QPageSize>
#include <QPainter>
#include <QPdfWriter>

#include <algorithm>

#include "charts/bytes_ticker.h"
#include "charts/memory_categories.h"
#include "charts/paper_style.h"
#include "data/summary_model.h"

namespace optiscope::ui {
namespace {

// Page layout in "report units": an A4 landscape page of 1684 x 1190 (2 units per point) leaves
// room for four charts at a size where their fonts read like a paper's figures.
constexpr int kWidth = 1684;
constexpr int kHeight = 1190;
constexpr int kMargin = 48;

void paintChart(QPainter& painter, QCustomPlot& plot, const QRect& where) {
  applyChartColors(plot, paperColors());
  // Charts draw at a logical size and are scaled into their cell, so their fonts stay in proportion.
  const QSize logical(760, 430);
  // Drawn as a 2x image and placed in its cell: the same path serves the PNG and the PDF page.
  const QPixmap pixmap = plot.toPixmap(logical.width(), logical.height(), 2.0);
  painter.drawPixmap(where, pixmap);
  applyChartColors(plot, colorsFor(plot.palette()));
}

void paintTable(QPainter& painter, const SummaryModel& model, const QRect& where) {
  const QList<int> columns = {
      SummaryModel::Variant,         SummaryModel::LastLoss,      SummaryModel::FinalLoss,
      SummaryModel::PeakDevice,      SummaryModel::Parameters,    SummaryModel::Gradients,
      SummaryModel::OptimizerDevice, SummaryModel::PagedResident, SummaryModel::PagedHost,
      SummaryModel::Activations,     SummaryModel::TotalTime,     SummaryModel::TokensPerSecond,
      SummaryModel::OutcomeCol};
  QFont font(QStringLiteral("DejaVu Sans"));
  font.setPixelSize(15);
  painter.setFont(font);
  const int rowH = 24;
  // Two header lines: names like "paged, resident" are wider than their column and wrap.
  const int headerH = 2 * rowH;
  // The variant column is wider: names like paged_adamw_32bit must not be cut.
  const double colW = static_cast<double>(where.width()) / (columns.size() + 0.8);
  const auto colX = [&](int c) { return where.left() + (c == 0 ? 0.0 : (c + 0.8) * colW); };
  const auto colWidth = [&](int c) { return c == 0 ? 1.8 * colW : colW; };
  painter.setPen(QColor(0x33, 0x33, 0x33));
  QFont bold = font;
  bold.setBold(true);
  painter.setFont(bold);
  for (int c = 0; c < columns.size(); ++c)
    painter.drawText(QRectF(colX(c), where.top(), colWidth(c) - 6, headerH),
                     Qt::AlignLeft | Qt::AlignBottom | Qt::TextWordWrap,
                     model.headerData(columns[c], Qt::Horizontal).toString());
  painter.drawLine(where.left(), where.top() + headerH, where.right(), where.top() + headerH);
  painter.setFont(font);
  for (int r = 0; r < model.rowCount() && headerH + (r + 1) * rowH < where.height(); ++r) {
    const int y = where.top() + headerH + r * rowH + 2;
    for (int c = 0; c < columns.size(); ++c) {
      const QModelIndex i = model.index(r, columns[c]);
      const QVariant color = model.data(i, Qt::DecorationRole);
      QRectF cell(colX(c), y, colWidth(c) - 6, rowH);
      if (color.canConvert<QColor>() && color.value<QColor>().isValid()) {
        painter.fillRect(QRectF(cell.left(), cell.center().y() - 5, 10, 10), color.value<QColor>());
        cell.setLeft(cell.left() + 16);
      }
      const QVariant fg = model.data(i, Qt::ForegroundRole);
      painter.setPen(fg.canConvert<QColor>() ? fg.value<QColor>() : QColor(0x22, 0x22, 0x22));
      painter.drawText(cell, Qt::AlignLeft | Qt::AlignVCenter, model.data(i).toString());
    }
  }
}

void paintReport(QPainter& painter, const ReportContent& content) {
  painter.fillRect(QRect(0, 0, kWidth, kHeight), Qt::white);
  QFont title(QStringLiteral("DejaVu Sans"));
  title.setPixelSize(30);
  title.setBold(true);
  painter.setFont(title);
  painter.setPen(QColor(0x22, 0x22, 0x22));
  painter.drawText(QRect(kMargin, 24, kWidth - 2 * kMargin, 40), Qt::AlignLeft | Qt::AlignVCenter,
                   content.title);
  QFont sub(QStringLiteral("DejaVu Sans"));
  sub.setPixelSize(16);
  painter.setFont(sub);
  painter.setPen(QColor(0x66, 0x66, 0x66));
  painter.drawText(QRect(kMargin, 64, kWidth - 2 * kMargin, 24), Qt::AlignLeft | Qt::AlignVCenter,
                   content.subtitle);

  const int top = 100;
  const int tableH = 40 + 24 * std::min(9, content.summary ? content.summary->rowCount() + 2 : 0);
  const int gridH = kHeight - top - kMargin - tableH - 12;
  const int cellW = (kWidth - 2 * kMargin - 16) / 2;
  const int cellH = (gridH - 16) / 2;
  for (std::size_t i = 0; i < content.charts.size() && i < 4; ++i) {
    const int col = static_cast<int>(i % 2);
    const int row = static_cast<int>(i / 2);
    paintChart(painter, *content.charts[i],
               QRect(kMargin + col * (cellW + 16), top + row * (cellH + 16), cellW, cellH));
  }
  if (content.summary) {
    paintTable(painter, *content.summary,
               QRect(kMargin, kHeight - kMargin - tableH + 12, kWidth - 2 * kMargin, tableH));
    // The driver's cache is in no column of the table: one line says what it was, where there was any.
    double cache = 0;
    for (int r = 0; r < content.summary->rowCount(); ++r)
      cache = std::max(
          cache,
          content.summary->data(content.summary->index(r, SummaryModel::DriverCache), SummaryModel::ValueRole)
              .toDouble());
    if (cache > 0) {
      QFont small(QStringLiteral("DejaVu Sans"));
      small.setPixelSize(13);
      painter.setFont(small);
      painter.setPen(QColor(0x55, 0x55, 0x55));
      painter.drawText(QRect(kMargin, kHeight - kMargin + 14, kWidth - 2 * kMargin, 20),
                       Qt::AlignLeft | Qt::AlignVCenter,
                       driverCacheExplanation() + QStringLiteral(" Up to %1 here.").arg(formatBytes(cache)));
    }
  }
}

}  // namespace

QString writeReport(const ReportContent& content, const QString& path) {
  const QString suffix = QFileInfo(path).suffix().toLower();
  if (suffix == QLatin1String("png")) {
    QImage image(kWidth, kHeight, QImage::Format_RGB32);
    QPainter painter(&image);
    painter.setRenderHints(QPainter::Antialiasing | QPainter::TextAntialiasing |
                           QPainter::SmoothPixmapTransform);
    paintReport(painter, content);
    painter.end();
    if (!image.save(path)) return QStringLiteral("Could not write %1.").arg(path);
    return {};
  }
  if (suffix == QLatin1String("pdf")) {
    QPdfWriter pdf(path);
    pdf.setPageSize(QPageSize(QPageSize::A4));
    pdf.setPageOrientation(QPageLayout::Landscape);
    pdf.setPageMargins(QMarginsF(0, 0, 0, 0));
    pdf.setTitle(content.title);
    pdf.setCreator(QStringLiteral("Optiscope"));
    pdf.setResolution(144);
    QPainter painter;
    if (!painter.begin(&pdf)) return QStringLiteral("Could not write %1.").arg(path);
    const double scale =
        std::min(pdf.width() / static_cast<double>(kWidth), pdf.height() / static_cast<double>(kHeight));
    painter.scale(scale, scale);
    painter.setRenderHints(QPainter::Antialiasing | QPainter::TextAntialiasing |
                           QPainter::SmoothPixmapTransform);
    paintReport(painter, content);
    painter.end();
    return {};
  }
  return QStringLiteral("A report is written as .png or .pdf, not \"%1\".").arg(path);
}

}  // namespace optiscope::ui
