#include "new_ladder_dialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>

#include "store_files.h"

namespace optiscope::ui {

NewLadderDialog::NewLadderDialog(const QString& defaultStorePath, QWidget* parent)
    : QDialog(parent),
      preset_(new QComboBox(this)),
      budget_(new QDoubleSpinBox(this)),
      steps_(new QSpinBox(this)),
      batch_(new QSpinBox(this)),
      seqLen_(new QSpinBox(this)),
      precision_(new QComboBox(this)),
      device_(new QComboBox(this)),
      store_(new QLineEdit(defaultStorePath, this)) {
  setWindowTitle(tr("New fit ladder"));
  for (const auto& p : known_model_presets()) preset_->addItem(QString::fromStdString(p));
  preset_->setCurrentText(QStringLiteral("llama-3.1-8b"));
  budget_->setRange(0.01, 1024);
  budget_->setDecimals(2);
  budget_->setValue(24);
  budget_->setSuffix(tr(" GiB"));
  budget_->setToolTip(
      tr("Every rung runs under this device budget; a rung fits only if its measured demand "
         "stays within it"));
  steps_->setRange(1, 100000);
  steps_->setValue(20);
  batch_->setRange(1, 4096);
  batch_->setValue(2);
  seqLen_->setRange(2, 131072);
  seqLen_->setValue(512);
  for (const char* p : {"bf16", "fp32", "fp32_autocast_bf16"}) precision_->addItem(QString::fromLatin1(p));
  device_->setEditable(true);
  device_->addItems({QStringLiteral("cuda"), QStringLiteral("cpu"), QStringLiteral("cuda:0")});

  QString rungs;
  for (const auto& r : standard_fit_ladder(RunSpec{}, 1).rungs)
    rungs += (rungs.isEmpty() ? QString() : QStringLiteral(" → ")) + QString::fromStdString(r.name);
  auto* about =
      new QLabel(tr("One run per rung, each adding one trick to the one before:<br><b>%1</b><br>"
                    "The last rung is torchtune's llama3/8B_full_single_device recipe. No rung clips "
                    "gradients.")
                     .arg(rungs.toHtmlEscaped()),
                 this);
  about->setWordWrap(true);

  auto* browse = new QPushButton(tr("Browse…"), this);
  connect(browse, &QPushButton::clicked, this, [this] {
    const QString path = QFileDialog::getSaveFileName(this, tr("Store file"), storePath(), storeFileFilter(),
                                                      nullptr, QFileDialog::DontConfirmOverwrite);
    if (!path.isEmpty()) store_->setText(path);
  });
  auto* storeRow = new QHBoxLayout;
  storeRow->addWidget(store_, 1);
  storeRow->addWidget(browse);

  auto* form = new QFormLayout(this);
  form->addRow(about);
  form->addRow(tr("&Model preset:"), preset_);
  form->addRow(tr("Device &budget:"), budget_);
  form->addRow(tr("&Steps per rung:"), steps_);
  form->addRow(tr("&Batch size:"), batch_);
  form->addRow(tr("Se&quence length:"), seqLen_);
  form->addRow(tr("&Precision:"), precision_);
  form->addRow(tr("&Device:"), device_);
  auto* storeLabel = new QLabel(tr("S&tore file:"), this);
  storeLabel->setBuddy(store_);
  form->addRow(storeLabel, storeRow);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
  buttons->button(QDialogButtonBox::Ok)->setText(tr("Start"));
  connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  form->addRow(buttons);
}

void NewLadderDialog::setFields(const QString& preset, double budgetGiB, int steps, int batch, int seqLen,
                                const QString& precision, const QString& device) {
  preset_->setCurrentText(preset);
  budget_->setValue(budgetGiB);
  steps_->setValue(steps);
  batch_->setValue(batch);
  seqLen_->setValue(seqLen);
  precision_->setCurrentText(precision);
  device_->setCurrentText(device);
}

LadderSpec NewLadderDialog::ladder() const {
  RunSpec base;
  base.model = preset_->currentText().toStdString();
  base.max_steps = steps_->value();
  base.per_device_train_batch_size = batch_->value();
  base.max_seq_length = seqLen_->value();
  base.precision = precision_->currentText().toStdString();
  base.device = device_->currentText().trimmed().toStdString();
  base.learning_rate = kLadderLearningRate;
  return standard_fit_ladder(base, static_cast<std::uint64_t>(budget_->value() * 1024.0 * 1024.0 * 1024.0));
}

QString NewLadderDialog::storePath() const {
  return store_->text().trimmed();
}

}  // namespace optiscope::ui
