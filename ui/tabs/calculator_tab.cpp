#include "tabs/calculator_tab.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QTableWidget>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "charts/bytes_ticker.h"
#include "charts/paper_style.h"
#include "checkpoint/checkpoint_error.h"
#include "estimate/memory_estimate.h"
#include "estimate/model_shapes.h"
#include "spec/run_spec.h"

namespace optiscope::ui {
namespace {

QString placementText(estimate::Placement p) {
  switch (p) {
    case estimate::Placement::device:
      return QObject::tr("device");
    case estimate::Placement::paged:
      return QObject::tr("paged (device, spills to host)");
    case estimate::Placement::host:
      return QObject::tr("host (pinned)");
  }
  return {};
}

// What a run measured for a calculator component, from its peak sample.
std::optional<double> measured(const RunData& run, const std::string& component) {
  const MemorySample* p = run.peak();
  if (!p) return std::nullopt;
  if (component == "weights") return static_cast<double>(p->parameters);
  if (component == "gradients") return static_cast<double>(p->gradients);
  if (component == "optimizer state")
    return static_cast<double>(p->optimizer_device + p->optimizer_paged_resident + p->optimizer_paged_host +
                               p->optimizer_pinned_host);
  if (component == "activations") return static_cast<double>(p->activations);
  // Schema-3 stores measure the context; older ones only have "other", which held it.
  if (component == "CUDA context") return static_cast<double>(p->context > 0 ? p->context : p->other_device);
  return std::nullopt;
}

}  // namespace

CalculatorTab::CalculatorTab(QWidget* parent)
    : ChartTab(parent),
      model_(new QComboBox(this)),
      billions_(new QDoubleSpinBox(this)),
      precision_(new QComboBox(this)),
      optim_(new QComboBox(this)),
      batch_(new QSpinBox(this)),
      seq_(new QSpinBox(this)),
      checkpointing_(new QCheckBox(tr("activation checkpointing"), this)),
      inBackward_(new QCheckBox(tr("optimizer in backward"), this)),
      lossChunks_(new QSpinBox(this)),
      ranks_(new QSpinBox(this)),
      zeroStage_(new QComboBox(this)),
      fromRun_(new QComboBox(this)),
      table_(new QTableWidget(this)),
      fits_(new QLabel(this)) {
  for (const auto& m : estimate::model_presets())
    model_->addItem(
        QStringLiteral("%1 (%2 parameters)")
            .arg(QString::fromStdString(m.name),
                 QString::fromStdString(estimate::format_count(static_cast<double>(m.parameter_count())))),
        QString::fromStdString(m.name));
  model_->addItem(tr("By parameter count"), QString());
  model_->addItem(tr("From a GGUF file…"), QStringLiteral("gguf:"));
  model_->setCurrentIndex(model_->findData(QStringLiteral("llama-3.1-8b")));
  billions_->setRange(0.000001, 2000);
  billions_->setDecimals(3);
  billions_->setValue(7.0);
  billions_->setSuffix(tr(" G parameters"));
  precision_->addItems(
      {QStringLiteral("bf16"), QStringLiteral("fp32"), QStringLiteral("fp32_autocast_bf16")});
  for (const auto& o : known_optimizers()) optim_->addItem(QString::fromStdString(o));
  optim_->setCurrentText(QStringLiteral("adamw_32bit"));
  batch_->setRange(1, 4096);
  batch_->setValue(1);
  seq_->setRange(2, 131072);
  seq_->setValue(512);
  fromRun_->setToolTip(tr("Fill the form from a checked run and compare with what it measured"));
  lossChunks_->setRange(0, 1024);
  lossChunks_->setSpecialValueText(tr("plain loss"));
  lossChunks_->setSuffix(tr(" chunks"));
  lossChunks_->setToolTip(tr("Chunked cross-entropy: the logits are made this many slices at a time"));
  ranks_->setRange(1, 64);
  ranks_->setSuffix(tr(" ranks"));
  ranks_->setToolTip(
      tr("Data parallel over this many processes (GPUs) of one host: the table is one rank's"));
  zeroStage_->addItem(tr("state on every rank"), 0);
  zeroStage_->addItem(tr("state sharded (ZeRO 1)"), 1);
  zeroStage_->addItem(tr("state and gradients sharded (ZeRO 2)"), 2);
  zeroStage_->setToolTip(tr("How the optimizer state is split over the ranks (spec key zero_stage)"));
  auto* parallel = new QHBoxLayout;
  parallel->addWidget(ranks_);
  parallel->addWidget(zeroStage_, 1);
  auto* tricks = new QHBoxLayout;
  tricks->addWidget(checkpointing_);
  tricks->addWidget(inBackward_);
  tricks->addWidget(lossChunks_);

  auto* form = new QFormLayout;
  form->addRow(tr("Model:"), model_);
  form->addRow(tr("Parameters:"), billions_);
  form->addRow(tr("Precision:"), precision_);
  form->addRow(tr("Optimizer:"), optim_);
  form->addRow(tr("Batch size:"), batch_);
  form->addRow(tr("Sequence length:"), seq_);
  form->addRow(tr("Memory tricks:"), tricks);
  form->addRow(tr("Data parallel:"), parallel);
  form->addRow(tr("Compare with run:"), fromRun_);
  fits_->setTextFormat(Qt::RichText);
  fits_->setWordWrap(true);
  fits_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
  auto* top = new QHBoxLayout;
  top->addLayout(form);
  top->addSpacing(24);
  top->addWidget(fits_, 1);

  table_->setColumnCount(5);
  table_->setHorizontalHeaderLabels(
      {tr("component"), tr("formula"), tr("predicted"), tr("where"), tr("measured")});
  table_->verticalHeader()->hide();
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  table_->horizontalHeader()->setSectionResizeMode(1, QHeaderView::Stretch);
  table_->setAlternatingRowColors(true);
  auto* note = new QLabel(
      tr("AdamW keeps two moments per parameter: 8 bytes in fp32 (adamw_32bit), 2 bytes plus one fp32 absmax "
         "per "
         "256 values in 8-bit. Paged variants keep the same bytes in managed memory: on the device while it "
         "has room, "
         "moved to the host when it does not. Activations follow Korthikanti et al. without recomputation; "
         "with activation checkpointing each layer "
         "keeps only its input. Optimizer in backward frees each gradient once its parameter is updated, so "
         "about the largest one remains."),
      this);
  note->setWordWrap(true);
  note->setForegroundRole(QPalette::PlaceholderText);

  auto* layout = new QVBoxLayout(this);
  layout->addLayout(top);
  layout->addWidget(table_, 1);
  layout->addWidget(note);

  for (QComboBox* c : {model_, precision_, optim_})
    connect(c, qOverload<int>(&QComboBox::currentIndexChanged), this, &CalculatorTab::recompute);
  connect(billions_, qOverload<double>(&QDoubleSpinBox::valueChanged), this, &CalculatorTab::recompute);
  connect(zeroStage_, qOverload<int>(&QComboBox::currentIndexChanged), this, &CalculatorTab::recompute);
  for (QSpinBox* s : {batch_, seq_, lossChunks_, ranks_})
    connect(s, qOverload<int>(&QSpinBox::valueChanged), this, &CalculatorTab::recompute);
  for (QCheckBox* c : {checkpointing_, inBackward_})
    connect(c, &QCheckBox::toggled, this, &CalculatorTab::recompute);
  connect(fromRun_, qOverload<int>(&QComboBox::activated), this, &CalculatorTab::useRun);
  connect(model_, qOverload<int>(&QComboBox::activated), this, [this](int index) {
    if (model_->itemData(index).toString() != QStringLiteral("gguf:")) return;
    const QString path =
        QFileDialog::getOpenFileName(this, tr("Model file"), QString(), tr("GGUF models (*.gguf)"));
    if (!path.isEmpty()) setGgufFile(path);
  });
  recompute();
}

void CalculatorTab::showRuns(const std::vector<RunData>& runs) {
  runs_ = runs;
  const QVariant chosen = fromRun_->currentData();
  fromRun_->clear();
  fromRun_->addItem(tr("none"), QVariant::fromValue<qint64>(-1));
  for (const auto& r : runs_) fromRun_->addItem(r.look.label, QVariant::fromValue<qint64>(r.info.id));
  const int i = fromRun_->findData(chosen);
  fromRun_->setCurrentIndex(i >= 0 ? i : 0);
  recompute();
}

void CalculatorTab::setInputs(const QString& model, const QString& precision, const QString& optim, int batch,
                              int seqLen) {
  const int m = model_->findData(model);
  if (m >= 0) model_->setCurrentIndex(m);
  if (model.endsWith(QStringLiteral(".gguf"), Qt::CaseInsensitive)) setGgufFile(model);
  precision_->setCurrentText(precision);
  optim_->setCurrentText(optim);
  batch_->setValue(batch);
  seq_->setValue(seqLen);
  recompute();
}

void CalculatorTab::setTricks(bool checkpointing, bool optimizerInBackward, int lossChunks) {
  const QSignalBlocker a(checkpointing_), b(inBackward_), c(lossChunks_);
  checkpointing_->setChecked(checkpointing);
  inBackward_->setChecked(optimizerInBackward);
  lossChunks_->setValue(lossChunks);
  recompute();
}

void CalculatorTab::setDataParallel(int ranks, int stage) {
  const QSignalBlocker a(ranks_), b(zeroStage_);
  ranks_->setValue(ranks);
  zeroStage_->setCurrentIndex(std::clamp(stage, 0, 2));
  recompute();
}

void CalculatorTab::useRun(int index) {
  const qint64 id = fromRun_->itemData(index).toLongLong();
  for (const auto& r : runs_) {
    if (r.info.id != id) continue;
    try {
      const RunSpec s = run_spec_from_json(r.info.spec_json);
      setInputs(QString::fromStdString(s.model), QString::fromStdString(s.precision),
                QString::fromStdString(s.optim), s.per_device_train_batch_size, s.max_seq_length);
      setTricks(s.gradient_checkpointing, s.optimizer_in_bwd, s.loss_chunks);
      setDataParallel(s.nproc_per_node, s.zero_stage);
    } catch (const std::exception&) {
      setInputs({}, precision_->currentText(), QString::fromStdString(r.info.optim), batch_->value(),
                seq_->value());
    }
  }
  recompute();
}

void CalculatorTab::recompute() {
  const QString preset = model_->currentData().toString();
  billions_->setEnabled(preset.isEmpty());
  estimate::Workload w;
  if (preset.isEmpty()) {
    if (billions_->decimals() != 3) {
      const QSignalBlocker quiet(billions_);
      billions_->setDecimals(3);
    }
    w.parameters = static_cast<std::int64_t>(billions_->value() * 1e9);
    w.model = estimate::shape_for_parameter_count(w.parameters);
  } else {
    if (preset.startsWith(QStringLiteral("gguf:"))) {
      if (!ggufModel_) {
        fits_->setText(tr("Choose a .gguf file."));
        return;
      }
      w.model = *ggufModel_;
    } else {
      w.model = *estimate::model_preset(preset.toStdString());
    }
    // The greyed field shows the preset's own count, the figure the model list names, not a
    // leftover value of its own.
    // Three significant digits, as the list writes it ("8.03 G"), however small the model.
    const QSignalBlocker quiet(billions_);
    const double g = static_cast<double>(w.model.parameter_count()) / 1e9;
    const int decimals = std::clamp(2 - static_cast<int>(std::floor(std::log10(g))), 0, 6);
    billions_->setDecimals(decimals);
    const double scale = std::pow(10.0, decimals);
    billions_->setValue(std::round(g * scale) / scale);
  }
  w.precision = precision_->currentText().toStdString();
  w.optim = optim_->currentText().toStdString();
  w.batch = batch_->value();
  w.seq_len = seq_->value();
  w.gradient_checkpointing = checkpointing_->isChecked();
  w.optimizer_in_bwd = inBackward_->isChecked();
  w.loss_chunks = lossChunks_->value();
  w.ranks = ranks_->value();
  w.zero_stage = zeroStage_->currentData().toInt();
  zeroStage_->setEnabled(w.ranks > 1);
  const estimate::Estimate e = estimate::estimate(w);

  const RunData* run = nullptr;
  for (const auto& r : runs_)
    if (r.info.id == fromRun_->currentData().toLongLong()) run = &r;
  table_->setRowCount(static_cast<int>(e.components.size()) + 1);
  int row = 0;
  const auto put = [this](int r, int c, const QString& text, bool right = false) {
    auto* item = new QTableWidgetItem(text);
    if (right) item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    table_->setItem(r, c, item);
  };
  for (const auto& c : e.components) {
    put(row, 0, QString::fromStdString(c.name));
    put(row, 1, QString::fromStdString(c.formula));
    put(row, 2, formatBytes(static_cast<double>(c.bytes)), true);
    put(row, 3, placementText(c.where));
    const auto m = run ? measured(*run, c.name) : std::nullopt;
    put(row, 4,
        m ? QStringLiteral("%1 (%2 %)")
                .arg(formatBytes(*m))
                .arg(c.bytes > 0 ? 100.0 * *m / c.bytes : 0.0, 0, 'f', 0)
          : QString(),
        true);
    ++row;
  }
  put(row, 0, tr("total"));
  put(row, 1,
      tr("device %1 + paged %2 + host %3")
          .arg(formatBytes(static_cast<double>(e.device_bytes)),
               formatBytes(static_cast<double>(e.paged_bytes)),
               formatBytes(static_cast<double>(e.host_bytes))));
  put(row, 2, formatBytes(static_cast<double>(e.total())), true);
  QFont bold = table_->font();
  bold.setBold(true);
  for (int c = 0; c < 3; ++c) table_->item(row, c)->setFont(bold);
  if (run && run->peak())
    put(row, 4, tr("%1 on the device").arg(formatBytes(static_cast<double>(run->peak()->device_total()))),
        true);

  QString html = w.ranks > 1
                     ? tr("<b>Which cards each rank fits</b> (one card per rank)<table cellspacing=4>")
                     : tr("<b>Which cards it fits</b><table cellspacing=4>");
  for (const auto& card : estimate::cards()) {
    const estimate::Fit f = estimate::fit_on(e, card.bytes);
    // Darker marks on a light theme, lighter ones on a dark one: the same meaning, readable on both.
    const bool dark = colorsFor(palette()).dark;
    const char* mark = f == estimate::Fit::fits               ? (dark ? "#56d364" : "#1a7f37")
                       : f == estimate::Fit::fits_with_paging ? (dark ? "#e3b341" : "#b36b00")
                                                              : (dark ? "#ff7b72" : "#c01020");
    const char* sym = f == estimate::Fit::fits ? "✔" : f == estimate::Fit::fits_with_paging ? "◐" : "✘";
    html += QStringLiteral("<tr><td><span style='color:%1'>%2</span></td><td>%3</td><td>%4</td></tr>")
                .arg(QString::fromLatin1(mark), QString::fromUtf8(sym), QString::fromStdString(card.name),
                     QString::fromStdString(estimate::to_string(f)));
  }
  html += QStringLiteral("</table>");
  fits_->setText(html);
}

QString CalculatorTab::fitsText() const {
  return fits_->text();
}

void CalculatorTab::setGgufFile(const QString& path) {
  try {
    ggufModel_ = estimate::shape_from_gguf(path.toStdString());
  } catch (const checkpoint::CheckpointError& e) {
    ggufModel_.reset();
    fits_->setText(QString::fromStdString(e.what()));
    return;
  }
  const int index = model_->findData(QStringLiteral("gguf:"));
  model_->setItemText(index, QStringLiteral("%1 (%2 parameters)")
                                 .arg(QString::fromStdString(ggufModel_->name),
                                      QString::fromStdString(estimate::format_count(
                                          static_cast<double>(ggufModel_->parameter_count())))));
  model_->setCurrentIndex(index);
  recompute();
}

}  // namespace optiscope::ui

namespace optiscope::ui {

QString CalculatorTab::modelText() const {
  return model_->currentText();
}

QString CalculatorTab::parametersText() const {
  return billions_->text();
}

}  // namespace optiscope::ui
