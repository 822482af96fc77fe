#include "first_start_offer.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>

namespace optiscope::ui {

FirstStartOffer::FirstStartOffer(const QString& samplePath, QWidget* parent)
    : QFrame(parent),
      text_(new QLabel(this)),
      sample_(new QPushButton(tr("Open the sample recording"), this)),
      newComparison_(new QPushButton(tr("Record a new comparison…"), this)),
      open_(new QPushButton(tr("Open a store…"), this)) {
  setObjectName(QStringLiteral("firstStartOffer"));
  setFrameShape(QFrame::StyledPanel);
  setAutoFillBackground(true);
  setBackgroundRole(QPalette::AlternateBase);
  text_->setWordWrap(true);
  text_->setTextFormat(Qt::RichText);
  text_->setText(
      tr("<b>No store is open.</b> Optiscope shows optimizer comparisons recorded into a store file "
         "(SQLite). %1")
          .arg(
              samplePath.isEmpty()
                  ? tr("Record a comparison (a tiny model runs in seconds on a CPU) or open a store.")
                  : tr("To look around first, open the sample recording that comes with Optiscope: optimizer "
                       "variants compared on a GPU, with memory, paging and time recorded.")));
  sample_->setVisible(!samplePath.isEmpty());
  sample_->setToolTip(samplePath);
  sample_->setDefault(true);
  connect(sample_, &QPushButton::clicked, this, &FirstStartOffer::openSampleRequested);
  connect(newComparison_, &QPushButton::clicked, this, &FirstStartOffer::newComparisonRequested);
  connect(open_, &QPushButton::clicked, this, &FirstStartOffer::openStoreRequested);

  auto* buttons = new QHBoxLayout;
  buttons->addWidget(sample_);
  buttons->addWidget(newComparison_);
  buttons->addWidget(open_);
  buttons->addStretch(1);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(12, 10, 12, 10);
  layout->addWidget(text_);
  layout->addLayout(buttons);
}

QString FirstStartOffer::text() const {
  return text_->text();
}

}  // namespace optiscope::ui
