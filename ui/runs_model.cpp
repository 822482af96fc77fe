#include "runs_model.h"

#include "spec/fit_ladder.h"

#include <QBrush>
#include <QColor>
#include <QFont>
#include <QGuiApplication>
#include <QPalette>
#include <algorithm>

#include "charts/chart_series.h"
#include "charts/paper_style.h"
#include "outcome_text.h"
#include "spec/fit_ladder.h"
#include "store/store.h"
#include "variant_palette.h"

namespace optiscope::ui {
namespace {

std::vector<std::int64_t> checkedIds(const auto& comparisons) {
  std::vector<std::int64_t> ids;
  for (const auto& c : comparisons)
    for (const auto& r : c.runs)
      if (r.checked) ids.push_back(r.info.id);
  return ids;
}

QColor outcomeColorOnLight(Outcome o) {
  switch (o) {
    case Outcome::oom:
    case Outcome::failed:
      return QColor(0xB0, 0x1C, 0x1C);
    case Outcome::over_budget:
      return QColor(0xB3, 0x5C, 0x00);
    case Outcome::cancelled:
    case Outcome::interrupted:
      return QColor(0x70, 0x70, 0x70);
    case Outcome::running:
      return QColor(0x00, 0x5A, 0x9C);
    case Outcome::completed:
      break;
  }
  return {};
}

// The same meanings on a dark theme: the darker reds and blues are unreadable on a dark row.
QColor outcomeColor(Outcome o) {
  const QColor c = outcomeColorOnLight(o);
  return c.isValid() && colorsFor(QGuiApplication::palette()).dark ? c.lighter(175) : c;
}

}  // namespace

RunsModel::RunsModel(QObject* parent) : QAbstractItemModel(parent) {}

void RunsModel::reload(const Store& store) {
  std::vector<ComparisonRow> fresh;
  for (auto& c : store.comparisons()) fresh.push_back({std::move(c), {}});
  for (auto& r : store.runs()) {
    auto it = std::find_if(fresh.begin(), fresh.end(),
                           [&](const ComparisonRow& c) { return c.info.id == r.comparison_id; });
    if (it != fresh.end()) it->runs.push_back({std::move(r), false, {}});
  }
  // Rungs of a fit ladder are named by what they add (several share a variant).
  for (auto& c : fresh)
    if (const auto ladder = ladder_from_json(c.info.spec_json))
      for (auto& r : c.runs)
        if (static_cast<std::size_t>(r.info.ordinal) < ladder->rungs.size() &&
            ladder->rungs[static_cast<std::size_t>(r.info.ordinal)].name != r.info.optim)
          r.rung = QString::fromStdString(ladder->rungs[static_cast<std::size_t>(r.info.ordinal)].name);
  for (const auto& c : fresh)
    for (const auto& r : c.runs)
      if (r.info.outcome != Outcome::running) live_.erase(r.info.id);

  const auto before = checkedIds(comparisons_);
  if (comparisons_.empty()) {
    // First load: show the newest comparison, which is most likely the one the user came for.
    if (!fresh.empty())
      for (auto& r : fresh.back().runs) r.checked = true;
    beginResetModel();
    comparisons_ = std::move(fresh);
    endResetModel();
  } else if (!mergeIn(fresh)) {
    // The store changed under us (another file, or rows removed): start over, keeping check marks.
    for (auto& c : fresh)
      for (auto& r : c.runs) {
        const auto known = std::find(before.begin(), before.end(), r.info.id);
        r.checked = known != before.end();
      }
    beginResetModel();
    comparisons_ = std::move(fresh);
    endResetModel();
  }
  if (checkedIds(comparisons_) != before) emit checkedRunsChanged();
}

bool RunsModel::mergeIn(std::vector<ComparisonRow> fresh) {
  // Stores only grow: anything else is not a merge.
  if (fresh.size() < comparisons_.size()) return false;
  for (std::size_t i = 0; i < comparisons_.size(); ++i) {
    if (fresh[i].info.id != comparisons_[i].info.id) return false;
    if (fresh[i].runs.size() < comparisons_[i].runs.size()) return false;
    for (std::size_t j = 0; j < comparisons_[i].runs.size(); ++j)
      if (fresh[i].runs[j].info.id != comparisons_[i].runs[j].info.id) return false;
  }

  const bool newComparison = fresh.size() > comparisons_.size();
  for (std::size_t i = 0; i < comparisons_.size(); ++i) {
    auto& old = comparisons_[i];
    const QModelIndex parentIndex = createIndex(static_cast<int>(i), 0, kTopLevel);
    old.info = fresh[i].info;
    const bool anyChecked =
        std::any_of(old.runs.begin(), old.runs.end(), [](const RunRow& r) { return r.checked; });
    const bool newRunsChecked = !newComparison && (anyChecked || old.runs.empty());
    for (std::size_t j = 0; j < old.runs.size(); ++j) {
      old.runs[j].info = fresh[i].runs[j].info;
      if (newComparison) old.runs[j].checked = false;
    }
    if (!old.runs.empty())
      emit dataChanged(index(0, 0, parentIndex),
                       index(static_cast<int>(old.runs.size()) - 1, ColumnCount - 1, parentIndex));
    if (fresh[i].runs.size() > old.runs.size()) {
      beginInsertRows(parentIndex, static_cast<int>(old.runs.size()),
                      static_cast<int>(fresh[i].runs.size()) - 1);
      for (std::size_t j = old.runs.size(); j < fresh[i].runs.size(); ++j) {
        old.runs.push_back(fresh[i].runs[j]);
        old.runs.back().checked = newRunsChecked;
      }
      endInsertRows();
    }
    emit dataChanged(index(static_cast<int>(i), 0), index(static_cast<int>(i), ColumnCount - 1));
  }
  if (newComparison) {
    beginInsertRows({}, static_cast<int>(comparisons_.size()), static_cast<int>(fresh.size()) - 1);
    for (std::size_t i = comparisons_.size(); i < fresh.size(); ++i) {
      comparisons_.push_back(std::move(fresh[i]));
      for (auto& r : comparisons_.back().runs) r.checked = true;
    }
    endInsertRows();
  }
  return true;
}

void RunsModel::clear() {
  beginResetModel();
  const bool hadChecked = !checkedIds(comparisons_).empty();
  comparisons_.clear();
  live_.clear();
  endResetModel();
  if (hadChecked) emit checkedRunsChanged();
}

std::vector<RunInfo> RunsModel::checkedRuns() const {
  std::vector<RunInfo> out;
  for (const auto& c : comparisons_)
    for (const auto& r : c.runs)
      if (r.checked) out.push_back(r.info);
  return out;
}

std::vector<RunInfo> RunsModel::allRuns() const {
  std::vector<RunInfo> out;
  for (const auto& c : comparisons_)
    for (const auto& r : c.runs) out.push_back(r.info);
  return out;
}

void RunsModel::setRunChecked(std::int64_t run_id, bool checked) {
  const QModelIndex i = indexOfRun(run_id);
  if (i.isValid()) setData(i, checked ? Qt::Checked : Qt::Unchecked, Qt::CheckStateRole);
}

void RunsModel::setLiveProgress(std::int64_t run_id, std::int64_t step, std::int64_t total_steps) {
  live_[run_id] = {step, total_steps};
  const QModelIndex i = indexOfRun(run_id);
  if (i.isValid()) {
    const QModelIndex cell = index(i.row(), OutcomeColumn, i.parent());
    emit dataChanged(cell, cell, {Qt::DisplayRole});
  }
}

QModelIndex RunsModel::indexOfRun(std::int64_t run_id) const {
  for (std::size_t i = 0; i < comparisons_.size(); ++i) {
    const auto& runs = comparisons_[i].runs;
    for (std::size_t j = 0; j < runs.size(); ++j)
      if (runs[j].info.id == run_id) return createIndex(static_cast<int>(j), 0, static_cast<quintptr>(i));
  }
  return {};
}

QModelIndex RunsModel::index(int row, int column, const QModelIndex& parent) const {
  if (row < 0 || column < 0 || column >= ColumnCount) return {};
  if (!parent.isValid()) {
    if (row >= static_cast<int>(comparisons_.size())) return {};
    return createIndex(row, column, kTopLevel);
  }
  if (isRun(parent) || parent.column() != 0) return {};  // runs have no children
  const auto& c = comparisons_[static_cast<std::size_t>(parent.row())];
  if (row >= static_cast<int>(c.runs.size())) return {};
  return createIndex(row, column, static_cast<quintptr>(parent.row()));
}

QModelIndex RunsModel::parent(const QModelIndex& child) const {
  if (!child.isValid() || !isRun(child)) return {};
  return createIndex(static_cast<int>(child.internalId()), 0, kTopLevel);
}

int RunsModel::rowCount(const QModelIndex& parent) const {
  if (!parent.isValid()) return static_cast<int>(comparisons_.size());
  if (isRun(parent) || parent.column() != 0) return 0;
  return static_cast<int>(comparisonOf(parent).runs.size());
}

int RunsModel::columnCount(const QModelIndex&) const {
  return ColumnCount;
}

const RunsModel::ComparisonRow& RunsModel::comparisonOf(const QModelIndex& index) const {
  const auto row = isRun(index) ? index.internalId() : static_cast<quintptr>(index.row());
  return comparisons_[static_cast<std::size_t>(row)];
}

const RunsModel::RunRow& RunsModel::runOf(const QModelIndex& index) const {
  return comparisonOf(index).runs[static_cast<std::size_t>(index.row())];
}

QVariant RunsModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid()) return {};
  if (isRun(index)) return runData(runOf(index), index.column(), role);
  return comparisonData(comparisonOf(index), index.column(), role);
}

Qt::CheckState RunsModel::comparisonCheckState(const ComparisonRow& c) const {
  const auto n = std::count_if(c.runs.begin(), c.runs.end(), [](const RunRow& r) { return r.checked; });
  if (n == 0) return Qt::Unchecked;
  return n == static_cast<long>(c.runs.size()) ? Qt::Checked : Qt::PartiallyChecked;
}

QVariant RunsModel::comparisonData(const ComparisonRow& c, int column, int role) const {
  switch (role) {
    case Qt::DisplayRole:
      if (column == NameColumn) return QString::fromStdString(c.info.name);
      if (column == OutcomeColumn) {
        const bool running = std::any_of(c.runs.begin(), c.runs.end(),
                                         [](const RunRow& r) { return r.info.outcome == Outcome::running; });
        return running ? QStringLiteral("running")
                       : tr("%n run(s)", nullptr, static_cast<int>(c.runs.size()));
      }
      if (column == DeviceColumn && !c.runs.empty())
        return QString::fromStdString(c.runs.front().info.device);
      return {};
    case Qt::CheckStateRole:
      if (column == NameColumn && !c.runs.empty()) return comparisonCheckState(c);
      return {};
    case Qt::FontRole:
      if (column == NameColumn) {
        QFont f;
        f.setBold(true);
        return f;
      }
      return {};
    case Qt::ToolTipRole:
      return QStringLiteral("%1\ncreated %2")
          .arg(QString::fromStdString(c.info.name), QString::fromStdString(c.info.created_at));
    case ComparisonIdRole:
      return QVariant::fromValue<qint64>(c.info.id);
    case IsRunRole:
      return false;
    default:
      return {};
  }
}

QVariant RunsModel::runData(const RunRow& r, int column, int role) const {
  switch (role) {
    case Qt::DisplayRole:
      if (column == NameColumn) {
        if (!r.rung.isEmpty())
          return QStringLiteral("%1 (%2)").arg(r.rung, QString::fromStdString(r.info.optim));
        return variantName(r.info);
      }
      if (column == OutcomeColumn) {
        const auto live = live_.find(r.info.id);
        if (r.info.outcome == Outcome::running && live != live_.end())
          return QStringLiteral("running (%1/%2)").arg(live->second.step).arg(live->second.total);
        return outcomeText(r.info);
      }
      if (column == DeviceColumn) return QString::fromStdString(r.info.device);
      return {};
    case Qt::CheckStateRole:
      if (column == NameColumn) return r.checked ? Qt::Checked : Qt::Unchecked;
      return {};
    case Qt::DecorationRole:
      if (column == NameColumn) return variantColor(QString::fromStdString(r.info.optim));
      return {};
    case Qt::ForegroundRole:
      if (column == OutcomeColumn) {
        const QColor c = outcomeColor(r.info.outcome);
        if (c.isValid()) return QBrush(c);
      }
      return {};
    case Qt::ToolTipRole: {
      const QString detail = outcomeDetailText(r.info);
      const QString head =
          QStringLiteral("%1: %2").arg(QString::fromStdString(r.info.optim), outcomeText(r.info));
      return detail.isEmpty() ? head : head + QLatin1Char('\n') + detail;
    }
    case RunIdRole:
      return QVariant::fromValue<qint64>(r.info.id);
    case ComparisonIdRole:
      return QVariant::fromValue<qint64>(r.info.comparison_id);
    case OptimRole:
      return QString::fromStdString(r.info.optim);
    case IsRunRole:
      return true;
    default:
      return {};
  }
}

bool RunsModel::setData(const QModelIndex& index, const QVariant& value, int role) {
  if (role != Qt::CheckStateRole || index.column() != NameColumn) return false;
  if (!index.isValid()) return false;
  const bool checked = static_cast<Qt::CheckState>(value.toInt()) != Qt::Unchecked;
  if (!isRun(index)) {
    setComparisonChecked(index.row(), checked);
    return true;
  }
  auto& run = comparisons_[index.internalId()].runs[static_cast<std::size_t>(index.row())];
  if (run.checked == checked) return true;
  run.checked = checked;
  emit dataChanged(index, index, {Qt::CheckStateRole});
  const QModelIndex parentIndex = index.parent();
  emit dataChanged(parentIndex, parentIndex, {Qt::CheckStateRole});
  emit checkedRunsChanged();
  return true;
}

void RunsModel::setComparisonChecked(int row, bool checked) {
  auto& c = comparisons_[static_cast<std::size_t>(row)];
  bool changed = false;
  for (auto& r : c.runs) {
    changed = changed || r.checked != checked;
    r.checked = checked;
  }
  if (!changed) return;
  const QModelIndex parentIndex = index(row, 0);
  emit dataChanged(parentIndex, parentIndex, {Qt::CheckStateRole});
  emit dataChanged(index(0, 0, parentIndex), index(static_cast<int>(c.runs.size()) - 1, 0, parentIndex),
                   {Qt::CheckStateRole});
  emit checkedRunsChanged();
}

Qt::ItemFlags RunsModel::flags(const QModelIndex& index) const {
  if (!index.isValid()) return Qt::NoItemFlags;
  Qt::ItemFlags f = Qt::ItemIsEnabled | Qt::ItemIsSelectable;
  if (index.column() == NameColumn) f |= Qt::ItemIsUserCheckable;
  if (isRun(index)) f |= Qt::ItemNeverHasChildren;
  return f;
}

QVariant RunsModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  switch (section) {
    case NameColumn:
      return QStringLiteral("Run");
    case OutcomeColumn:
      return QStringLiteral("Outcome");
    case DeviceColumn:
      return QStringLiteral("Device");
    default:
      return {};
  }
}

}  // namespace optiscope::ui
