#pragma once
// The memory calculator: pick a model (a preset, a parameter count or a .gguf file), precision and variant,
// and see the bytes of each component with the formula that gives them, which cards it fits, and, where a
// checked run used the same variant, what was measured against what was predicted.
#include <optional>

#include "estimate/model_shapes.h"
#include "tabs/chart_tab.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QSpinBox;
class QTableWidget;

namespace optiscope::ui {

class CalculatorTab : public ChartTab {
  Q_OBJECT

 public:
  explicit CalculatorTab(QWidget* parent = nullptr);
  unsigned needs() const override { return RunDataCache::kSteps | RunDataCache::kMemory; }
  void showRuns(const std::vector<RunData>& runs) override;

  /// Sets the form, e.g. from a run's spec; an unknown model name keeps the current one.
  void setInputs(const QString& model, const QString& precision, const QString& optim, int batch, int seqLen);
  /// The fit ladder's memory tricks (activation checkpointing, optimizer in backward, chunked loss).
  void setTricks(bool checkpointing, bool optimizerInBackward, int lossChunks);
  /// Data parallel over `ranks` processes with the optimizer state sharded by ZeRO `stage` (0-2):
  /// every figure becomes one rank's.
  void setDataParallel(int ranks, int stage);
  QTableWidget& table() { return *table_; }
  QString fitsText() const;
  /// Reads a .gguf file's geometry (llama.cpp, Ollama) and selects it; a file that cannot be used
  /// leaves the form as it was and says why.
  void setGgufFile(const QString& path);
  /// What the model list and the (greyed, for a preset) parameter field show now.
  QString modelText() const;
  QString parametersText() const;

 private:
  void recompute();
  void useRun(int index);

  QComboBox* model_;
  QDoubleSpinBox* billions_;
  QComboBox* precision_;
  QComboBox* optim_;
  QSpinBox* batch_;
  QSpinBox* seq_;
  QCheckBox* checkpointing_;
  QCheckBox* inBackward_;
  QSpinBox* lossChunks_;
  QSpinBox* ranks_;
  QComboBox* zeroStage_;
  QComboBox* fromRun_;
  QTableWidget* table_;
  QLabel* fits_;
  std::optional<estimate::ModelShape> ggufModel_;
  std::vector<RunData> runs_;
};

}  // namespace optiscope::ui
