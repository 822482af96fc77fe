#include "run_details_view.h"

#include <algorithm>

#include <QGuiApplication>
#include <QLabel>
#include <QLocale>
#include <QPalette>
#include <QVBoxLayout>

#include "charts/bytes_ticker.h"
#include "charts/paper_style.h"
#include "outcome_text.h"
#include "run_summary.h"
#include "spec/run_spec.h"
#include "store/store.h"
#include "variant_palette.h"

namespace optiscope::ui {
namespace {

// Muted and alarm colours from the palette, so that a dark theme keeps them readable.
QString mutedColor() {
  return QGuiApplication::palette().color(QPalette::PlaceholderText).name();
}

QString alarmColor() {
  return colorsFor(QGuiApplication::palette()).dark ? QStringLiteral("#ff7b72") : QStringLiteral("#b01c1c");
}

QString row(const QString& name, const QString& value) {
  return QStringLiteral("<tr><td style='color:%3; padding-right:14px'>%1</td><td>%2</td></tr>")
      .arg(name, value.toHtmlEscaped(), mutedColor());
}

// The units of every chart and table ("15.5 GiB"): Qt's traditional format wrote "15.5 GB" for the
// same 1024-based figure, which read as a different number.
QString bytes(std::int64_t n) {
  return formatBytes(static_cast<double>(n));
}

}  // namespace

RunDetailsView::RunDetailsView(QWidget* parent) : QWidget(parent), label_(new QLabel(this)) {
  label_->setTextFormat(Qt::RichText);
  label_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
  label_->setWordWrap(true);
  label_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(8, 6, 8, 6);
  layout->addWidget(label_);
  showNothing();
}

void RunDetailsView::showNothing() {
  runId_ = 0;
  label_->setText(QStringLiteral("<span style='color:%2'>%1</span>")
                      .arg(tr("Select a run to see its settings and summary."), mutedColor()));
}

void RunDetailsView::showRun(const Store& store, std::int64_t run_id) {
  RunInfo run;
  RunSummary summary;
  try {
    run = store.run(run_id);
    summary = summarize(store.steps(run_id));
  } catch (const StoreError& e) {
    label_->setText(
        tr("Cannot read run %1: %2").arg(run_id).arg(QString::fromUtf8(e.what())).toHtmlEscaped());
    runId_ = 0;
    return;
  }
  runId_ = run_id;
  const QString optim = QString::fromStdString(run.optim);
  QString html =
      QStringLiteral("<p><span style='background:%1'>&nbsp;&nbsp;&nbsp;</span>&nbsp;<b>%2</b> — %3</p>")
          .arg(variantColor(optim).name(), optim.toHtmlEscaped(), outcomeText(run).toHtmlEscaped());
  html += QStringLiteral("<table cellspacing='0' cellpadding='1'>");
  std::optional<RunSpec> spec;
  try {
    spec = run_spec_from_json(run.spec_json);
  } catch (const std::exception&) {
    // A spec from a newer Optiscope: the summary below still holds.
  }
  const QLocale locale;
  if (spec) {
    html += row(tr("Model"), QString::fromStdString(spec->model));
    html += row(tr("Data"), QString::fromStdString(spec->dataset));
    html += row(tr("Precision"), QString::fromStdString(spec->precision));
    html += row(tr("Batch × sequence"),
                QStringLiteral("%1 × %2").arg(spec->per_device_train_batch_size).arg(spec->max_seq_length));
    if (run.world_size > 1) {
      static const char* const kStages[] = {QT_TR_NOOP("optimizer state on every rank"),
                                            QT_TR_NOOP("ZeRO 1: optimizer state sharded"),
                                            QT_TR_NOOP("ZeRO 2: optimizer state and gradients sharded")};
      html += row(tr("Ranks"), tr("%1 (%2); the batch above is each rank's")
                                   .arg(run.world_size)
                                   .arg(tr(kStages[std::clamp(run.zero_stage, 0, 2)])));
    }
    html += row(tr("Learning rate"), QStringLiteral("%1 (%2, warm-up %3%)")
                                         .arg(spec->learning_rate, 0, 'g', 4)
                                         .arg(QString::fromStdString(spec->lr_scheduler_type))
                                         .arg(spec->warmup_ratio * 100, 0, 'g', 3));
    html += row(tr("Steps"), tr("%1 of %2").arg(summary.steps).arg(spec->max_steps));
  } else {
    html += row(tr("Steps"), QString::number(summary.steps));
  }
  html += row(tr("Device"), QString::fromStdString(run.device));
  if (summary.last_loss) html += row(tr("Loss, last step"), locale.toString(*summary.last_loss, 'f', 4));
  if (summary.final_loss)
    html +=
        row(tr("Loss, mean of last %1").arg(kFinalLossSteps), locale.toString(*summary.final_loss, 'f', 4));
  if (summary.eval_loss) html += row(tr("Eval loss"), locale.toString(*summary.eval_loss, 'f', 4));
  if (summary.median_step_ms)
    html += row(tr("Step time"), tr("%1 ms (median)").arg(locale.toString(*summary.median_step_ms, 'f', 1)));
  if (summary.tokens_per_second)
    html += row(tr("Throughput"), tr("%1 tokens/s").arg(locale.toString(*summary.tokens_per_second, 'f', 0)));
  if (summary.peak_mem_bytes) html += row(tr("Peak memory"), bytes(*summary.peak_mem_bytes));
  html += QStringLiteral("</table>");
  if (run.outcome != Outcome::completed && !run.outcome_detail.empty())
    html += QStringLiteral("<p style='color:%2'>%1</p>")
                .arg(QString::fromStdString(run.outcome_detail).toHtmlEscaped(), alarmColor());
  label_->setText(html);
}

QString RunDetailsView::text() const {
  return label_->text();
}

}  // namespace optiscope::ui
