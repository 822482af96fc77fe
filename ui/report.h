#pragma once
// The one-page comparison report: the four key charts (learning curves, memory peaks by category,
// paging, time) in a 2 x 2 grid under a title, and the summary table below, as PNG or PDF.
#include <QString>
#include <vector>

class QCustomPlot;

namespace optiscope::ui {

class SummaryModel;

struct ReportContent {
  QString title;
  QString subtitle;                  // store, date, device
  std::vector<QCustomPlot*> charts;  // up to four, in reading order
  const SummaryModel* summary = nullptr;
};

/// Writes the report to a .png or .pdf file; returns an empty string or the error for the user.
QString writeReport(const ReportContent& content, const QString& path);

}  // namespace optiscope::ui
