#include "new_comparison_dialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QDoubleValidator>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMessageBox>
#include <QPixmap>
#include <QPushButton>
#include <QSpinBox>
#include <algorithm>

#include "checkpoint/checkpoint_error.h"
#include "checkpoint/gguf_inspect.h"
#include "spec/smollm2_comparison.h"
#include "store_files.h"
#include "variant_palette.h"

namespace optiscope::ui {
namespace {

QSpinBox* spinBox(int min, int max, QWidget* parent) {
  auto* box = new QSpinBox(parent);
  box->setRange(min, max);
  box->setGroupSeparatorShown(true);
  return box;
}

QIcon swatch(const QColor& color) {
  QPixmap pixmap(14, 14);
  pixmap.fill(color);
  return QIcon(pixmap);
}

}  // namespace

NewComparisonDialog::NewComparisonDialog(const QString& defaultStorePath, QWidget* parent)
    : QDialog(parent),
      name_(new QLineEdit(this)),
      preset_(new QComboBox(this)),
      optims_(new QListWidget(this)),
      steps_(spinBox(1, 1'000'000, this)),
      batch_(spinBox(1, 4096, this)),
      seqLen_(spinBox(2, 131'072, this)),
      lr_(new QLineEdit(this)),
      precision_(new QComboBox(this)),
      device_(new QComboBox(this)),
      dataset_(new QComboBox(this)),
      budget_(new QDoubleSpinBox(this)),
      lossChunks_(spinBox(0, 1024, this)),
      recipe_(new QComboBox(this)),
      store_(new QLineEdit(defaultStorePath, this)),
      buttons_(new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this)) {
  setWindowTitle(tr("New comparison"));

  for (const auto& p : known_model_presets()) preset_->addItem(QString::fromStdString(p));
  for (const auto& o : known_optimizers()) {
    const QString name = QString::fromStdString(o);
    auto* item = new QListWidgetItem(swatch(variantColor(name)), name, optims_);
    item->setFlags(Qt::ItemIsEnabled | Qt::ItemIsUserCheckable);
    item->setCheckState(Qt::Unchecked);
  }
  optims_->setFixedHeight(optims_->sizeHintForRow(0) * std::min(optims_->count(), 8) +
                          2 * optims_->frameWidth() + 4);
  for (const char* p : {"fp32", "bf16", "fp32_autocast_bf16"}) precision_->addItem(QString::fromLatin1(p));
  preset_->setEditable(true);
  preset_->setToolTip(tr("A preset name, the folder of a Hugging Face checkpoint, or a .gguf model file"));
  device_->setEditable(true);
  device_->addItems({QStringLiteral("cpu"), QStringLiteral("cuda"), QStringLiteral("cuda:0")});
  device_->setToolTip(tr("cpu, cuda or cuda:N"));
  auto* lrValidator = new QDoubleValidator(1e-9, 10.0, 12, lr_);
  lrValidator->setNotation(QDoubleValidator::ScientificNotation);
  lr_->setValidator(lrValidator);
  name_->setPlaceholderText(tr("named after the preset and variants"));
  dataset_->setEditable(true);
  dataset_->addItem(QStringLiteral("synthetic"));
  dataset_->setToolTip(tr("\"synthetic\", or the path of a .jsonl or .txt file"));
  budget_->setRange(0, 1024);
  budget_->setDecimals(1);
  budget_->setSuffix(tr(" GiB"));
  budget_->setSpecialValueText(tr("whole device"));
  budget_->setToolTip(
      tr("Emulate a smaller card: the allocator is capped here, so OOMs happen where they would"));
  lossChunks_->setSpecialValueText(tr("plain cross-entropy"));
  lossChunks_->setPrefix(tr("fused linear + cross-entropy, "));
  lossChunks_->setSuffix(tr(" slices"));
  lossChunks_->setToolTip(
      tr("The loss a slice of tokens at a time, its gradients computed at once: the whole batch's logits "
         "never exist (tokens x vocabulary, several GiB for Llama 3). Same loss and gradients as the plain "
         "one; less memory, and on bf16 CUDA runs usually faster."));
  recipe_->addItem(tr("Custom"));
  recipe_->addItem(tr("Quick look: tiny model on the CPU, 32-bit vs 8-bit"));
  recipe_->addItem(tr("The article's comparison: Llama 3.2 1B, four AdamW variants, 24 GiB budget"));
  recipe_->addItem(tr("Paging under pressure: Llama 3.2 3B, paged 32-bit vs 8-bit, 40 GiB budget"));
  recipe_->addItem(tr("A real model: SmolLM2-135M (GGUF) on Debian's fortunes, four variants"));
  connect(recipe_, qOverload<int>(&QComboBox::activated), this, &NewComparisonDialog::applyRecipe);

  auto* browseModel = new QPushButton(tr("GGUF file…"), this);
  browseModel->setToolTip(tr("Choose a .gguf model file (llama.cpp, Ollama)"));
  connect(browseModel, &QPushButton::clicked, this, [this] {
    const QString path =
        QFileDialog::getOpenFileName(this, tr("Model file"), QString(), tr("GGUF models (*.gguf)"));
    if (!path.isEmpty()) preset_->setEditText(path);
  });
  auto* modelRow = new QHBoxLayout;
  modelRow->addWidget(preset_, 1);
  modelRow->addWidget(browseModel);

  auto* browse = new QPushButton(tr("Browse…"), this);
  connect(browse, &QPushButton::clicked, this, &NewComparisonDialog::browseStore);
  auto* storeRow = new QHBoxLayout;
  storeRow->addWidget(store_, 1);
  storeRow->addWidget(browse);
  store_->setToolTip(tr("The runs are added to this store; it is created if it does not exist"));

  auto* form = new QFormLayout;
  form->addRow(tr("P&reset:"), recipe_);
  form->addRow(tr("&Name:"), name_);
  auto* modelLabel = new QLabel(tr("&Model:"), this);
  modelLabel->setBuddy(preset_);
  form->addRow(modelLabel, modelRow);
  form->addRow(tr("&Optimizers:"), optims_);
  form->addRow(tr("&Steps:"), steps_);
  form->addRow(tr("&Batch size:"), batch_);
  form->addRow(tr("Se&quence length:"), seqLen_);
  form->addRow(tr("&Learning rate:"), lr_);
  form->addRow(tr("&Precision:"), precision_);
  form->addRow(tr("&Device:"), device_);
  form->addRow(tr("Device &budget:"), budget_);
  form->addRow(tr("Lo&ss:"), lossChunks_);
  form->addRow(tr("D&ataset:"), dataset_);
  // A row holding a layout gets no buddy from QFormLayout, and without one the "&" would show.
  auto* storeLabel = new QLabel(tr("S&tore file:"), this);
  storeLabel->setBuddy(store_);
  form->addRow(storeLabel, storeRow);

  buttons_->button(QDialogButtonBox::Ok)->setText(tr("Start"));
  connect(buttons_, &QDialogButtonBox::accepted, this, &NewComparisonDialog::accept);
  connect(buttons_, &QDialogButtonBox::rejected, this, &NewComparisonDialog::reject);

  auto* layout = new QVBoxLayout(this);
  layout->addLayout(form);
  auto* note = new QLabel(tr("Every variant trains the same model on the same data in the same order, "
                             "one after the other."),
                          this);
  note->setWordWrap(true);
  note->setForegroundRole(QPalette::PlaceholderText);
  layout->addWidget(note);
  layout->addWidget(buttons_);
  setMinimumWidth(560);

  setSpec(default_comparison());
}

void NewComparisonDialog::setSpec(const ComparisonSpec& spec) {
  base_ = spec.base;
  const bool isDefaultName = spec.name == default_comparison().name;
  name_->setText(isDefaultName ? QString() : QString::fromStdString(spec.name));
  const int preset = preset_->findText(QString::fromStdString(spec.base.model));
  if (preset >= 0)
    preset_->setCurrentIndex(preset);
  else
    preset_->setEditText(QString::fromStdString(spec.base.model));
  for (int i = 0; i < optims_->count(); ++i) {
    QListWidgetItem* item = optims_->item(i);
    const bool wanted =
        std::find(spec.optims.begin(), spec.optims.end(), item->text().toStdString()) != spec.optims.end();
    item->setCheckState(wanted ? Qt::Checked : Qt::Unchecked);
  }
  steps_->setValue(spec.base.max_steps);
  batch_->setValue(spec.base.per_device_train_batch_size);
  seqLen_->setValue(spec.base.max_seq_length);
  lr_->setText(QString::number(spec.base.learning_rate, 'g', QLocale::FloatingPointShortest));
  precision_->setCurrentText(QString::fromStdString(spec.base.precision));
  device_->setCurrentText(QString::fromStdString(spec.base.device));
  dataset_->setCurrentText(QString::fromStdString(spec.base.dataset));
  budget_->setValue(static_cast<double>(spec.base.device_budget_bytes) / (1024.0 * 1024.0 * 1024.0));
  lossChunks_->setValue(spec.base.loss_chunks);
}

void NewComparisonDialog::applyRecipe(int index) {
  ComparisonSpec c = default_comparison();
  if (index == 1) {
    c.base.max_steps = 120;
  } else if (index == 2) {
    c.base.model = "llama-3.2-1b";
    c.base.precision = "bf16";
    c.base.device = "cuda";
    c.base.per_device_train_batch_size = 4;
    c.base.max_seq_length = 512;
    c.base.learning_rate = 1e-5;
    c.base.max_steps = 200;
    c.base.device_budget_bytes = 24ULL << 30;
    c.optims = {"adamw_torch", "adamw_8bit", "paged_adamw_32bit", "paged_adamw_8bit"};
  } else if (index == 3) {
    c.base.model = "llama-3.2-3b";
    c.base.precision = "bf16";
    c.base.device = "cuda";
    c.base.per_device_train_batch_size = 4;
    c.base.max_seq_length = 512;
    c.base.learning_rate = 1e-5;
    c.base.max_steps = 100;
    c.base.device_budget_bytes = 40ULL << 30;
    c.optims = {"paged_adamw_32bit", "paged_adamw_8bit"};
  } else if (index == 4) {
    // Where installer/setup.sh puts the model and the corpus; a missing file is named by problems().
    c = smollm2_comparison(
        find_in_deps("models", kSmollm2ModelFile).value_or(std::string(".deps/models/") + kSmollm2ModelFile),
        find_in_deps("corpus", kSmollm2CorpusFile)
            .value_or(std::string(".deps/corpus/") + kSmollm2CorpusFile));
  } else {
    return;
  }
  const QString store = storePath();
  setSpec(c);
  store_->setText(store);
}

ComparisonSpec NewComparisonDialog::spec() const {
  ComparisonSpec c;
  c.base = base_;
  c.base.model = preset_->currentText().toStdString();
  c.base.max_steps = steps_->value();
  c.base.per_device_train_batch_size = batch_->value();
  c.base.max_seq_length = seqLen_->value();
  c.base.learning_rate = QLocale::c().toDouble(lr_->text());
  c.base.precision = precision_->currentText().toStdString();
  c.base.device = device_->currentText().trimmed().toStdString();
  c.base.dataset = dataset_->currentText().trimmed().toStdString();
  c.base.device_budget_bytes = static_cast<std::uint64_t>(budget_->value() * 1024.0 * 1024.0 * 1024.0);
  c.base.loss_chunks = lossChunks_->value();
  c.optims.clear();
  for (int i = 0; i < optims_->count(); ++i)
    if (optims_->item(i)->checkState() == Qt::Checked)
      c.optims.push_back(optims_->item(i)->text().toStdString());
  c.base.optim = c.optims.empty() ? c.base.optim : c.optims.front();
  const QString name = name_->text().trimmed();
  c.name = (name.isEmpty() ? suggestedName() : name).toStdString();
  return c;
}

QString NewComparisonDialog::suggestedName() const {
  QStringList chosen;
  for (int i = 0; i < optims_->count(); ++i)
    if (optims_->item(i)->checkState() == Qt::Checked) chosen << optims_->item(i)->text();
  return QStringLiteral("%1: %2").arg(preset_->currentText(), chosen.join(QStringLiteral(" vs ")));
}

QString NewComparisonDialog::storePath() const {
  return store_->text().trimmed();
}

QStringList NewComparisonDialog::problems() const {
  QStringList out;
  const ComparisonSpec c = spec();
  if (c.optims.empty()) out << tr("Check at least one optimizer.");
  bool number = false;
  QLocale::c().toDouble(lr_->text(), &number);
  if (!number)
    out << tr("The learning rate must be a number, e.g. 3e-3.");
  else
    for (const auto& p : validate(c.base)) out << QString::fromStdString(p);
  if (checkpoint::is_gguf_path(c.base.model)) {
    // Read and checked now (header, geometry, tensors, memory), not when the worker starts.
    try {
      (void)checkpoint::inspect_gguf(c.base.model);
    } catch (const checkpoint::CheckpointError& e) {
      out << QString::fromStdString(e.what());
    }
  }
  if (storePath().isEmpty()) out << tr("Choose a store file.");
  return out;
}

void NewComparisonDialog::accept() {
  const QStringList found = problems();
  if (!found.isEmpty()) {
    QMessageBox::warning(
        this, tr("New comparison"),
        tr("The comparison cannot start yet:\n\n• %1").arg(found.join(QStringLiteral("\n• "))));
    return;
  }
  QDialog::accept();
}

void NewComparisonDialog::browseStore() {
  // Choosing an existing store is fine: the comparison is added to it.
  const QString path = QFileDialog::getSaveFileName(this, tr("Store file"), storePath(), storeFileFilter(),
                                                    nullptr, QFileDialog::DontConfirmOverwrite);
  if (!path.isEmpty()) store_->setText(path);
}

}  // namespace optiscope::ui
