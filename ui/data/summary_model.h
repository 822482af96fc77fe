#pragma once
// The summary table: one row per checked run with the figures the article compares (losses, peak memory by
// category, time, throughput, outcome). Copyable as tab-separated text.
#include <QAbstractTableModel>
#include <vector>

#include "data/run_data.h"

namespace optiscope::ui {

class SummaryModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column {
    Variant,
    Comparison,
    Steps,
    LastLoss,
    FinalLoss,
    EvalLoss,
    PeakDevice,
    Parameters,
    Gradients,
    OptimizerDevice,
    PagedResident,
    PagedHost,
    Activations,
    TotalTime,
    MedianStep,
    TokensPerSecond,
    OutcomeCol,
    DriverCache,  // reclaimable: in no peak (schema 3)
    ColumnCount
  };
  /// The raw number behind a cell (bytes, ms, ...), for sorting and tests.
  static constexpr int ValueRole = Qt::UserRole + 1;

  explicit SummaryModel(QObject* parent = nullptr);
  void setRuns(const std::vector<RunData>& runs);

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

  /// The whole table (or only `rows`, if given) as tab-separated text with a header line.
  QString toTsv(const QList<int>& rows = {}) const;

 private:
  struct Row {
    RunData run;  // steps only kept for the figures below; memory rows dropped
    QVariant cells[ColumnCount];
    QString text[ColumnCount];
  };
  std::vector<Row> rows_;
};

}  // namespace optiscope::ui
