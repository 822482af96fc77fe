#include "tabs/summary_tab.h"

#include <QAction>
#include <QApplication>
#include <QClipboard>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QPushButton>
#include <QTableView>
#include <QVBoxLayout>

#include "data/summary_model.h"

namespace optiscope::ui {

SummaryTab::SummaryTab(QWidget* parent)
    : ChartTab(parent), model_(new SummaryModel(this)), view_(new QTableView(this)) {
  view_->setModel(model_);
  view_->setSelectionBehavior(QAbstractItemView::SelectRows);
  view_->setAlternatingRowColors(true);
  view_->verticalHeader()->hide();
  view_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  view_->setWordWrap(false);
  auto* copyAct = new QAction(tr("Copy"), view_);
  copyAct->setShortcut(QKeySequence::Copy);
  copyAct->setShortcutContext(Qt::WidgetWithChildrenShortcut);
  connect(copyAct, &QAction::triggered, this, &SummaryTab::copy);
  view_->addAction(copyAct);
  view_->setContextMenuPolicy(Qt::ActionsContextMenu);
  auto* button = new QPushButton(tr("Copy table"), this);
  button->setToolTip(tr("Copy as tab-separated text, for spreadsheets (Ctrl+C copies the selected rows)"));
  connect(button, &QPushButton::clicked, this, [this] {
    view_->clearSelection();
    copy();
  });
  auto* bar = new QHBoxLayout;
  bar->setContentsMargins(6, 4, 6, 0);
  bar->addStretch(1);
  bar->addWidget(button);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addLayout(bar);
  layout->addWidget(view_, 1);
}

void SummaryTab::showRuns(const std::vector<RunData>& runs) {
  model_->setRuns(runs);
}

void SummaryTab::copy() {
  QList<int> rows;
  for (const QModelIndex& i : view_->selectionModel()->selectedRows()) rows << i.row();
  QApplication::clipboard()->setText(model_->toTsv(rows));
}

}  // namespace optiscope::ui
