#include "data/summary_model.h"

#include <QColor>
#include <iterator>

#include "charts/bytes_ticker.h"
#include "outcome_text.h"
#include "run_summary.h"
#include "store/run_summary.h"

namespace optiscope::ui {

SummaryModel::SummaryModel(QObject* parent) : QAbstractTableModel(parent) {}

void SummaryModel::setRuns(const std::vector<RunData>& runs) {
  beginResetModel();
  rows_.clear();
  for (const auto& r : runs) {
    Row row;
    row.run.info = r.info;
    row.run.look = r.look;
    const RunSummary s = summarize(r.steps);
    const MemorySample* peak = r.peak();
    double total = 0;
    for (const auto& st : r.steps) total += st.step_ms;
    const auto set = [&row](Column c, const QVariant& v, const QString& t) {
      row.cells[c] = v;
      row.text[c] = t;
    };
    const auto bytes = [&](Column c, std::optional<double> v) {
      if (v) set(c, *v, formatBytes(*v));
    };
    set(Variant, r.look.label, r.look.label);
    set(Comparison, static_cast<qlonglong>(r.info.comparison_id), QString::number(r.info.comparison_id));
    set(Steps, static_cast<qlonglong>(s.steps), QString::number(s.steps));
    if (s.last_loss) set(LastLoss, *s.last_loss, QString::number(*s.last_loss, 'f', 4));
    if (s.final_loss) set(FinalLoss, *s.final_loss, QString::number(*s.final_loss, 'f', 4));
    if (s.eval_loss) set(EvalLoss, *s.eval_loss, QString::number(*s.eval_loss, 'f', 4));
    if (peak) {
      bytes(PeakDevice, static_cast<double>(peak->device_total()));
      bytes(Parameters, static_cast<double>(peak->parameters));
      bytes(Gradients, static_cast<double>(peak->gradients));
      bytes(OptimizerDevice, static_cast<double>(peak->optimizer_device));
      bytes(PagedResident, static_cast<double>(peak->optimizer_paged_resident));
      bytes(PagedHost, static_cast<double>(peak->optimizer_paged_host));
      bytes(Activations, static_cast<double>(peak->activations));
      std::int64_t cache = 0;
      for (const auto& m : r.memory) cache = std::max(cache, m.driver_cache);
      bytes(DriverCache, static_cast<double>(cache));
    } else if (s.peak_mem_bytes) {
      bytes(PeakDevice, static_cast<double>(*s.peak_mem_bytes));
    }
    set(TotalTime, total / 1000.0, QStringLiteral("%1 s").arg(total / 1000.0, 0, 'f', 1));
    if (s.median_step_ms)
      set(MedianStep, *s.median_step_ms, QStringLiteral("%1 ms").arg(*s.median_step_ms, 0, 'f', 1));
    if (s.tokens_per_second)
      set(TokensPerSecond, *s.tokens_per_second, QString::number(*s.tokens_per_second, 'f', 0));
    set(OutcomeCol, outcomeText(r.info), outcomeText(r.info));
    rows_.push_back(std::move(row));
  }
  endResetModel();
}

int SummaryModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

int SummaryModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : ColumnCount;
}

QVariant SummaryModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
  const Row& row = rows_[static_cast<std::size_t>(index.row())];
  const int c = index.column();
  switch (role) {
    case Qt::DisplayRole:
      return row.text[c];
    case ValueRole:
      return row.cells[c];
    case Qt::TextAlignmentRole:
      return c == Variant || c == OutcomeCol ? QVariant(Qt::AlignLeft | Qt::AlignVCenter)
                                             : QVariant(Qt::AlignRight | Qt::AlignVCenter);
    case Qt::DecorationRole:
      if (c == Variant) return row.run.look.color;
      return {};
    case Qt::ForegroundRole:
      if (c == OutcomeCol && row.run.info.outcome != Outcome::completed &&
          row.run.info.outcome != Outcome::running)
        return QColor(0xC0, 0x10, 0x20);
      return {};
    case Qt::ToolTipRole:
      if (c == OutcomeCol) return outcomeDetailText(row.run.info);
      return {};
    default:
      return {};
  }
}

QVariant SummaryModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  // The losses say which figure they are, in the words the CLI uses for the same numbers.
  static const char* names[] = {"variant",
                                "comparison",
                                "steps",
                                "loss, last step",
                                "loss, mean of last %1",
                                "eval loss",
                                "peak device",
                                "parameters",
                                "gradients",
                                "optim. state",
                                "paged, resident",
                                "paged, on host",
                                "activations",
                                "total time",
                                "median step",
                                "tokens/s",
                                "outcome",
                                "driver cache (reclaimable)"};
  static_assert(std::size(names) == ColumnCount);
  if (section < 0 || section >= ColumnCount) return {};
  return section == FinalLoss ? tr(names[section]).arg(kFinalLossSteps) : tr(names[section]);
}

QString SummaryModel::toTsv(const QList<int>& rows) const {
  QStringList lines;
  QStringList header;
  for (int c = 0; c < ColumnCount; ++c) header << headerData(c, Qt::Horizontal).toString();
  lines << header.join(QLatin1Char('\t'));
  for (int r = 0; r < rowCount(); ++r) {
    if (!rows.isEmpty() && !rows.contains(r)) continue;
    QStringList cells;
    for (int c = 0; c < ColumnCount; ++c) cells << rows_[static_cast<std::size_t>(r)].text[c];
    lines << cells.join(QLatin1Char('\t'));
  }
  return lines.join(QLatin1Char('\n')) + QLatin1Char('\n');
}

}  // namespace optiscope::ui
