#include "outcome_text.h"

#include <QLocale>

namespace optiscope::ui {

QString outcomeText(const RunInfo& run) {
  switch (run.outcome) {
    case Outcome::completed:
      return QStringLiteral("completed");
    case Outcome::oom:
      return run.oom_step ? QStringLiteral("oom at step %1").arg(*run.oom_step) : QStringLiteral("oom");
    case Outcome::failed:
      return QStringLiteral("failed");
    case Outcome::cancelled:
      return QStringLiteral("cancelled");
    case Outcome::running:
      return QStringLiteral("running");
    case Outcome::interrupted:
      return QStringLiteral("interrupted");
    case Outcome::over_budget:
      // Short: it stands in table cells and under bars; the step and bytes are in the detail text.
      return QStringLiteral("over budget");
  }
  return QStringLiteral("failed");
}

QString outcomeDetailText(const RunInfo& run) {
  QStringList parts;
  if (run.outcome == Outcome::oom && run.oom_bytes)
    parts << QStringLiteral("%1 in use when memory ran out")
                 .arg(QLocale::system().formattedDataSize(*run.oom_bytes, 2,
                                                          QLocale::DataSizeTraditionalFormat));
  if (run.outcome == Outcome::over_budget && run.over_budget_bytes)
    parts << QStringLiteral(
                 "measured demand reached %1 (first over the budget at step %2): it would not fit "
                 "the emulated card")
                 .arg(QLocale::system().formattedDataSize(*run.over_budget_bytes, 2,
                                                          QLocale::DataSizeTraditionalFormat))
                 .arg(run.over_budget_step.value_or(0));
  if (!run.outcome_detail.empty()) parts << QString::fromStdString(run.outcome_detail);
  if (!run.device.empty()) parts << QStringLiteral("device: %1").arg(QString::fromStdString(run.device));
  if (!run.started_at.empty())
    parts << QStringLiteral("started %1").arg(QString::fromStdString(run.started_at));
  if (!run.finished_at.empty())
    parts << QStringLiteral("finished %1").arg(QString::fromStdString(run.finished_at));
  return parts.join(QLatin1Char('\n'));
}

}  // namespace optiscope::ui
