#include "comparison_progress.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <algorithm>

namespace optiscope::ui {
namespace {
constexpr int kBarResolution = 1000;
}

ComparisonProgress::ComparisonProgress(const QString& comparisonName, QWidget* parent)
    : QWidget(parent),
      name_(new QLabel(comparisonName, this)),
      bar_(new QProgressBar(this)),
      status_(new QLabel(tr("starting…"), this)),
      cancel_(new QPushButton(tr("Cancel"), this)) {
  QFont bold = name_->font();
  bold.setBold(true);
  name_->setFont(bold);
  bar_->setRange(0, kBarResolution);
  bar_->setValue(0);
  bar_->setTextVisible(true);
  bar_->setFormat(QStringLiteral("%p%"));
  bar_->setMinimumWidth(220);
  status_->setMinimumWidth(320);
  status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  cancel_->setToolTip(tr("Stop after the current step; the steps recorded so far stay in the store"));
  connect(cancel_, &QPushButton::clicked, this, &ComparisonProgress::cancelRequested);

  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(8, 4, 8, 4);
  layout->addWidget(name_);
  layout->addWidget(bar_, 1);
  layout->addWidget(status_, 1);
  layout->addWidget(cancel_);
}

double ComparisonProgress::overallFraction(const RunProgress& p) {
  if (p.run_count <= 0 || p.total_steps <= 0) return 0.0;
  const double done = static_cast<double>(p.run_index) * static_cast<double>(p.total_steps) +
                      static_cast<double>(std::min(p.step, p.total_steps));
  return std::clamp(done / (static_cast<double>(p.run_count) * static_cast<double>(p.total_steps)), 0.0, 1.0);
}

void ComparisonProgress::showRunStarted(const RunProgress& p) {
  bar_->setValue(static_cast<int>(overallFraction(p) * kBarResolution));
  status_->setText(tr("%1: starting (run %2 of %3)")
                       .arg(QString::fromStdString(p.optim))
                       .arg(p.run_index + 1)
                       .arg(p.run_count));
}

void ComparisonProgress::showStep(const RunProgress& p) {
  bar_->setValue(static_cast<int>(overallFraction(p) * kBarResolution));
  status_->setText(tr("%1: step %2/%3, loss %4")
                       .arg(QString::fromStdString(p.optim))
                       .arg(p.step)
                       .arg(p.total_steps)
                       .arg(p.loss, 0, 'f', 3));
}

void ComparisonProgress::showCancelling() {
  cancel_->setEnabled(false);
  status_->setText(tr("cancelling after this step…"));
}

QString ComparisonProgress::statusText() const {
  return status_->text();
}

int ComparisonProgress::barValue() const {
  return bar_->value();
}

}  // namespace optiscope::ui
