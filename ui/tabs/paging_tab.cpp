#include "tabs/paging_tab.h"

#include <qcustomplot.h>

#include <QComboBox>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QStackedLayout>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "charts/bytes_ticker.h"
#include "charts/chart_kit.h"
#include "charts/paper_style.h"

namespace optiscope::ui {
namespace {

// probes::UmEventKind and probes::UmMigrationCause, as numbered in the store.
QString kindName(int kind) {
  static const char* names[] = {"to device",        "to host",          "CPU faults",
                                "GPU fault groups", "thrashing",        "throttling",
                                "remote map",       "device to device", "unknown"};
  return kind >= 0 && kind < 9 ? QString::fromLatin1(names[kind]) : QStringLiteral("kind %1").arg(kind);
}

QString causeName(int cause) {
  static const char* names[] = {"unknown",         "user prefetch", "page fault",
                                "driver prefetch", "eviction",      "access counters"};
  return cause >= 0 && cause < 6 ? QString::fromLatin1(names[cause]) : QStringLiteral("cause %1").arg(cause);
}

// A paged variant whose state fit records a paging row per step with every count zero: only rows
// with bytes moved or faults taken are traffic worth a chart.
bool movedAnything(const RunData& r) {
  return std::any_of(r.paging.begin(), r.paging.end(), [](const PagingStep& p) {
    return p.manager_htod + p.manager_dtoh + p.recorded_htod + p.recorded_dtoh + p.gpu_faults + p.cpu_faults >
           0;
  });
}

// Why a run has no paging traffic, in the words a newcomer needs.
QString whyNothingMoved(const RunData& r) {
  const bool cpu = r.info.device.rfind("cpu", 0) == 0;
  const bool paged = r.info.optim.rfind("paged_", 0) == 0;
  QString why;
  if (cpu)
    why = PagingTab::tr("a CPU run: unified memory and paging do not apply");
  else if (!paged)
    why = PagingTab::tr("not a paged variant: its optimizer state stays on the device");
  else if (!r.capture && r.paging.empty())
    why = PagingTab::tr("no capture was recorded for this run");
  else if (r.budget_bytes > 0)
    why = PagingTab::tr(
              "nothing was paged: the optimizer state fit within the device budget of %1, so it "
              "never left the device")
              .arg(formatBytes(static_cast<double>(r.budget_bytes)));
  else
    why = PagingTab::tr(
        "nothing was paged: the optimizer state fit in device memory, so it never left the device");
  if (r.capture && !r.capture->note.empty())
    why += QStringLiteral(" (%1)").arg(QString::fromStdString(r.capture->note));
  return why;
}

const QColor kToDevice(0x00, 0x72, 0xB2);
const QColor kToHost(0xD5, 0x5E, 0x00);

}  // namespace

PagingTab::PagingTab(QWidget* parent)
    : ChartTab(parent),
      perStep_(addPlot(QStringLiteral("paging-per-step"), tr("Bytes moved per step"))),
      cumulative_(addPlot(QStringLiteral("paging-cumulative"), tr("Bytes moved, cumulative"))),
      faults_(addPlot(QStringLiteral("paging-faults"), tr("Page faults and capture completeness"))),
      causes_(addPlot(QStringLiteral("paging-causes"), tr("Migrations by cause"))),
      residency_(addPlot(QStringLiteral("paging-residency"),
                         tr("Paged state on the device: page manager's ledger against the migrations"))),
      run_(new QComboBox(this)),
      notes_(new QLabel(this)) {
  run_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  run_->setToolTip(tr("The run the per-step, fault and cause charts show"));
  connect(run_, qOverload<int>(&QComboBox::activated), this, [this] {
    drawRun();
    replotAll();
  });
  notes_->setWordWrap(true);
  notes_->setAlignment(Qt::AlignCenter);
  notes_->setTextFormat(Qt::RichText);
  notes_->setMargin(40);

  auto* charts = new QWidget(this);
  auto* grid = new QGridLayout(charts);
  grid->setContentsMargins(0, 0, 0, 0);
  grid->setSpacing(2);
  grid->addWidget(perStep_, 0, 0);
  grid->addWidget(cumulative_, 0, 1);
  grid->addWidget(faults_, 1, 0);
  grid->addWidget(causes_, 1, 1);
  grid->addWidget(residency_, 2, 0, 1, 2);
  stack_ = new QStackedLayout;
  stack_->addWidget(charts);
  stack_->addWidget(notes_);
  auto* bar = new QHBoxLayout;
  bar->setContentsMargins(6, 4, 6, 0);
  bar->addWidget(new QLabel(tr("Run:"), this));
  bar->addWidget(run_);
  auto* hint =
      new QLabel(tr("Solid: bytes CUPTI recorded · dashed: bytes the page manager knows it moved"), this);
  hint->setForegroundRole(QPalette::PlaceholderText);
  bar->addWidget(hint, 1);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addLayout(bar);
  layout->addLayout(stack_, 1);

  for (QCustomPlot* p : {perStep_, cumulative_, faults_, residency_}) p->xAxis->setLabel(tr("step"));
  residency_->yAxis->setTicker(QSharedPointer<BytesTicker>::create());
  residency_->yAxis->setLabel(tr("resident"));
  perStep_->yAxis->setTicker(QSharedPointer<BytesTicker>::create());
  perStep_->yAxis->setLabel(tr("▼ to host    to device ▲"));
  cumulative_->yAxis->setTicker(QSharedPointer<BytesTicker>::create());
  cumulative_->yAxis->setLabel(tr("bytes moved"));
  cumulative_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);
  faults_->yAxis->setLabel(tr("faults per step"));
  faults_->yAxis2->setVisible(true);
  faults_->yAxis2->setTickLabels(true);
  faults_->yAxis2->setLabel(tr("recorded / known"));
  causes_->yAxis->setTicker(QSharedPointer<BytesTicker>::create());
  causes_->yAxis->setLabel(tr("bytes"));
  causes_->axisRect()->setRangeDrag(Qt::Vertical);
  causes_->axisRect()->setRangeZoom(Qt::Vertical);
  enableBarTips(*causes_);
  linkXAxes({perStep_, cumulative_, faults_, residency_});
}

bool PagingTab::showsNotes() const {
  return stack_->currentWidget() == notes_;
}

QString PagingTab::noteText() const {
  return notes_->text();
}

void PagingTab::showRuns(const std::vector<RunData>& runs) {
  runs_ = runs;
  const QVariant chosen = run_->currentData();
  run_->clear();
  QStringList notes;
  for (const auto& r : runs_) {
    if (movedAnything(r))
      run_->addItem(r.look.label, QVariant::fromValue<qint64>(r.info.id));
    else
      notes << QStringLiteral("<b>%1</b>: %2")
                   .arg(r.look.label.toHtmlEscaped(), whyNothingMoved(r).toHtmlEscaped());
  }
  const int i = run_->findData(chosen);
  run_->setCurrentIndex(i >= 0 ? i : 0);
  run_->setEnabled(run_->count() > 0);
  if (run_->count() == 0) {
    notes_->setText(runs_.empty() ? tr("Check runs to see their paging traffic.")
                                  : tr("<p style='font-size:large'>Nothing was paged.</p><p>%1</p>")
                                        .arg(notes.join(QStringLiteral("<br>"))));
    stack_->setCurrentWidget(notes_);
  } else {
    stack_->setCurrentIndex(0);
  }
  drawRun();
  drawCumulative();
  resetView();
}

void PagingTab::drawRun() {
  for (QCustomPlot* p : {perStep_, faults_, causes_, residency_}) {
    p->clearPlottables();
    p->clearItems();
  }
  verdict_.clear();
  const RunData* run = nullptr;
  for (const auto& r : runs_)
    if (r.info.id == run_->currentData().toLongLong()) run = &r;
  if (!run) return;
  drawResidency(*run);

  QVector<double> keys;
  QVector<double> recHtoD, recDtoH, manHtoD, manDtoH, gpuF, cpuF, complete;
  for (const auto& p : run->paging) {
    keys << static_cast<double>(p.step);
    recHtoD << static_cast<double>(p.recorded_htod);
    recDtoH << -static_cast<double>(p.recorded_dtoh);
    manHtoD << static_cast<double>(p.manager_htod);
    manDtoH << -static_cast<double>(p.manager_dtoh);
    gpuF << static_cast<double>(p.gpu_faults);
    cpuF << static_cast<double>(p.cpu_faults);
    complete << (p.manager_htod + p.manager_dtoh > 0 ? p.completeness() : qQNaN());
  }
  const auto line = [](QCustomPlot* plot, const QString& name, const QVector<double>& k,
                       const QVector<double>& v, const QColor& color, Qt::PenStyle style, bool fill,
                       QCPAxis* y = nullptr) {
    QCPGraph* g = plot->addGraph(plot->xAxis, y ? y : plot->yAxis);
    g->setName(name);
    g->setPen(QPen(color, style == Qt::SolidLine ? 1.5 : 1.2, style));
    if (fill) g->setBrush(QColor(color.red(), color.green(), color.blue(), 45));
    g->setLineStyle(QCPGraph::lsStepCenter);
    g->setData(k, v, true);
    return g;
  };
  line(perStep_, tr("to device (recorded)"), keys, recHtoD, kToDevice, Qt::SolidLine, true);
  line(perStep_, tr("to host (recorded)"), keys, recDtoH, kToHost, Qt::SolidLine, true);
  // The page manager's dashes a shade away from the recorded colour: darker on paper, lighter on a dark
  // theme.
  const auto shade = [dark = colorsFor(palette()).dark](const QColor& c) {
    return dark ? c.lighter(140) : c.darker(140);
  };
  line(perStep_, tr("to device (page manager)"), keys, manHtoD, shade(kToDevice), Qt::DashLine, false);
  line(perStep_, tr("to host (page manager)"), keys, manDtoH, shade(kToHost), Qt::DashLine, false);
  line(faults_, tr("GPU fault groups"), keys, gpuF, QColor(0x81, 0x72, 0xB2), Qt::SolidLine, false);
  line(faults_, tr("CPU faults"), keys, cpuF, QColor(0x55, 0xA8, 0x68), Qt::SolidLine, false);
  QCPGraph* c = line(faults_, tr("completeness (right axis)"), keys, complete, QColor(0x88, 0x88, 0x88),
                     Qt::DotLine, false, faults_->yAxis2);
  c->setLineStyle(QCPGraph::lsLine);
  if (keys.size() < 150) c->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 3));
  faults_->yAxis2->setRange(
      0, std::max(1.1, *std::max_element(complete.begin(), complete.end(), [](double a, double b) {
                    return (std::isnan(a) ? 0 : a) < (std::isnan(b) ? 0 : b);
                  }) * 1.1));
  // Capture gaps are drawn, not hidden: a band where less than 90 % of the known bytes were recorded.
  auto* full = new QCPItemStraightLine(faults_);
  full->point1->setAxes(faults_->xAxis, faults_->yAxis2);
  full->point2->setAxes(faults_->xAxis, faults_->yAxis2);
  full->point1->setCoords(0, 1);
  full->point2->setCoords(1, 1);
  full->setPen(QPen(QColor(0x99, 0x99, 0x99), 1, Qt::DashLine));
  if (run->capture && run->capture->dropped_records > 0) {
    auto* dropped = new QCPItemText(faults_);
    dropped->position->setType(QCPItemPosition::ptAxisRectRatio);
    dropped->position->setCoords(0.02, 0.05);
    dropped->setPositionAlignment(Qt::AlignLeft | Qt::AlignTop);
    dropped->setText(tr("%L1 records dropped by CUPTI").arg(run->capture->dropped_records));
    dropped->setColor(QColor(0xC0, 0x10, 0x20));
  }

  // Causes: one bar per kind/cause with bytes (transfers); fault kinds go into the tool tip count.
  auto ticker = QSharedPointer<QCPAxisTickerText>::create();
  auto* bars = new QCPBars(causes_->xAxis, causes_->yAxis);
  bars->setName(tr("bytes migrated"));
  bars->setProperty("format", QStringLiteral("bytes"));
  bars->setBrush(QColor(0x4C, 0x72, 0xB0));
  bars->setPen(Qt::NoPen);
  bars->setWidth(0.6);
  int k = 0;
  for (const auto& cc : run->causes) {
    if (cc.kind > 1) continue;  // transfers only: bytes are comparable, fault counts are not
    ++k;
    ticker->addTick(k, QStringLiteral("%1\n%2").arg(kindName(cc.kind), causeName(cc.cause)));
    bars->addData(k, static_cast<double>(cc.value));
  }
  causes_->xAxis->setTicker(ticker);
  causes_->xAxis->setRange(0.4, k + 0.6);
  causes_->legend->setVisible(false);
  if (k == 0) {
    QCPItemText* n = addPlotNote(*causes_);
    n->setText(tr("No migration events were captured"));
    n->setVisible(true);
  }
}

// Resident paged state at the end of each step: the ledger (what the page manager commanded, dashed)
// and the migrations' own sum (solid), with the measured peak within the step as dots. Every step
// whose two figures differ by more than 1 % gets a red mark; the verdict says how close they came.
void PagingTab::drawResidency(const RunData& run) {
  QVector<double> keys, ledger, measured, peak;
  double worst = -1;
  std::int64_t worstStep = 0;
  int over = 0;
  for (const auto& p : run.paging) {
    keys << static_cast<double>(p.step);
    ledger << static_cast<double>(p.ledger_resident);
    measured << (p.measured_resident ? static_cast<double>(*p.measured_resident) : qQNaN());
    peak << (p.measured_resident_peak ? static_cast<double>(*p.measured_resident_peak) : qQNaN());
    if (const auto d = p.ledger_disagreement()) {
      if (*d > worst) {
        worst = *d;
        worstStep = p.step;
      }
      if (*d > 0.01) {
        ++over;
        auto* mark = new QCPItemTracer(residency_);
        mark->position->setCoords(static_cast<double>(p.step), static_cast<double>(*p.measured_resident));
        mark->setStyle(QCPItemTracer::tsCircle);
        mark->setSize(9);
        mark->setPen(QPen(QColor(0xC0, 0x10, 0x20), 2));
      }
    }
  }
  const auto graph = [&](const QString& name, const QVector<double>& v, const QPen& pen) {
    QCPGraph* g = residency_->addGraph();
    g->setName(name);
    g->setPen(pen);
    g->setLineStyle(QCPGraph::lsStepCenter);
    g->setData(keys, v, true);
    return g;
  };
  graph(tr("measured from migrations (end of step)"), measured, QPen(kToDevice, 2));
  graph(tr("page manager's ledger (end of step)"), ledger, QPen(QColor(0x33, 0x33, 0x33), 1.3, Qt::DashLine));
  QCPGraph* pk = graph(tr("measured peak within the step"), peak, QPen(Qt::NoPen));
  pk->setLineStyle(QCPGraph::lsNone);
  pk->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, kToDevice.lighter(130), 4));
  if (worst < 0) {
    verdict_ =
        tr("Residency was not measured for this run (no unified-memory counters): the ledger above is "
           "the page manager's own estimate.");
  } else if (over == 0) {
    verdict_ = tr("Ledger and migrations agree within %1 % at every step (the most at step %2).")
                   .arg(worst * 100.0, 0, 'f', 2)
                   .arg(worstStep);
  } else {
    verdict_ =
        tr("Ledger and migrations disagree by more than 1 % at %n step(s), by %1 % at step %2: the page "
           "manager's figures are not confirmed there.",
           nullptr, over)
            .arg(worst * 100.0, 0, 'f', 1)
            .arg(worstStep);
  }
  QCPItemText* note = addPlotNote(*residency_);
  note->setText(verdict_);
  note->setColor(over > 0 ? QColor(0xC0, 0x10, 0x20) : note->color());
  note->position->setCoords(0.5, 0.98);
  note->setPositionAlignment(Qt::AlignHCenter | Qt::AlignBottom);
  note->setVisible(true);
}

void PagingTab::resetView() {
  ChartTab::resetView();
  // The cause bars keep half a bar of room on each side.
  causes_->xAxis->setRange(
      0.4, causes_->xAxis->range().upper < 1 ? 1.6 : std::round(causes_->xAxis->range().upper) + 0.6);
  causes_->replot();
}

void PagingTab::drawCumulative() {
  cumulative_->clearPlottables();
  for (const auto& r : runs_) {
    if (r.paging.empty()) continue;
    QVector<double> keys, toDevice, toHost;
    double a = 0, b = 0;
    for (const auto& p : r.paging) {
      keys << static_cast<double>(p.step);
      toDevice << (a += static_cast<double>(std::max(p.recorded_htod, p.manager_htod)));
      toHost << (b += static_cast<double>(std::max(p.recorded_dtoh, p.manager_dtoh)));
    }
    QCPGraph* up = cumulative_->addGraph();
    up->setName(tr("%1 to device").arg(r.look.label));
    up->setPen(QPen(r.look.color, 2));
    up->setData(keys, toDevice, true);
    QCPGraph* down = cumulative_->addGraph();
    down->setName(tr("%1 to host").arg(r.look.label));
    down->setPen(QPen(r.look.color, 2, Qt::DashLine));
    down->setData(keys, toHost, true);
  }
}

}  // namespace optiscope::ui
