#pragma once
// The runs panel's model: comparisons at the top level, their runs (one per optimizer variant)
// below. Each run carries a check box that says whether the charts show it. The model reads the
// store and nothing else; reload() merges what is new so the tree keeps its expansion and
// selection while a comparison is being recorded.
#include <QAbstractItemModel>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "store/records.h"

namespace optiscope {
class Store;
}

namespace optiscope::ui {

class RunsModel : public QAbstractItemModel {
  Q_OBJECT

 public:
  enum Column { NameColumn, OutcomeColumn, DeviceColumn, ColumnCount };
  enum Role { RunIdRole = Qt::UserRole + 1, ComparisonIdRole, OptimRole, IsRunRole };

  explicit RunsModel(QObject* parent = nullptr);

  /// Reads comparisons and runs again. Known runs keep their check marks; the first load checks
  /// the newest comparison only, and a comparison that appears later takes the focus (its runs
  /// checked, the others unchecked) because it is the one the user just started.
  void reload(const Store& store);
  void clear();

  /// Checked runs, in the order of the tree.
  std::vector<RunInfo> checkedRuns() const;
  std::vector<RunInfo> allRuns() const;
  void setRunChecked(std::int64_t run_id, bool checked);
  /// Shown next to "running" until the store says the run ended.
  void setLiveProgress(std::int64_t run_id, std::int64_t step, std::int64_t total_steps);
  QModelIndex indexOfRun(std::int64_t run_id) const;
  int comparisonCount() const { return static_cast<int>(comparisons_.size()); }

  QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
  QModelIndex parent(const QModelIndex& child) const override;
  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;
  Qt::ItemFlags flags(const QModelIndex& index) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

 signals:
  /// Emitted once per user-visible change of the check marks (not once per run).
  void checkedRunsChanged();

 private:
  struct RunRow {
    RunInfo info;
    bool checked = false;
    QString rung;  // the fit-ladder rung's name, when the run is one
  };
  struct ComparisonRow {
    ComparisonInfo info;
    std::vector<RunRow> runs;
  };
  struct LiveProgress {
    std::int64_t step = 0;
    std::int64_t total = 0;
  };

  // Top-level items carry this internal id; a run carries the row of its comparison.
  static constexpr quintptr kTopLevel = ~quintptr{0};

  bool isRun(const QModelIndex& index) const { return index.internalId() != kTopLevel; }
  const ComparisonRow& comparisonOf(const QModelIndex& index) const;
  const RunRow& runOf(const QModelIndex& index) const;
  QVariant comparisonData(const ComparisonRow& c, int column, int role) const;
  QVariant runData(const RunRow& r, int column, int role) const;
  Qt::CheckState comparisonCheckState(const ComparisonRow& c) const;
  bool mergeIn(std::vector<ComparisonRow> fresh);
  void setComparisonChecked(int row, bool checked);

  std::vector<ComparisonRow> comparisons_;
  std::unordered_map<std::int64_t, LiveProgress> live_;
};

}  // namespace optiscope::ui
