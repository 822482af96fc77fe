#include "comparison_worker.h"

#include <QThread>
#include <exception>
#include <utility>

namespace optiscope::ui {

// Lives on the engine's thread; hands each event to the GUI thread through the event queue.
class ComparisonWorker::Observer : public ComparisonObserver {
 public:
  explicit Observer(ComparisonWorker& worker) : worker_(worker) {}

  void on_run_started(const RunProgress& p) override {
    QMetaObject::invokeMethod(
        &worker_, [w = &worker_, p] { emit w->runStarted(p); }, Qt::QueuedConnection);
  }
  void on_step(const RunProgress& p) override { worker_.postStep(p); }
  void on_run_finished(const RunProgress& p, Outcome outcome, const std::string& detail) override {
    const QString text = QString::fromStdString(detail);
    QMetaObject::invokeMethod(
        &worker_, [w = &worker_, p, outcome, text] { emit w->runFinished(p, outcome, text); },
        Qt::QueuedConnection);
  }

 private:
  ComparisonWorker& worker_;
};

ComparisonWorker::ComparisonWorker(ComparisonSpec spec, QString storePath, QObject* parent)
    : QObject(parent), spec_(std::move(spec)), storePath_(std::move(storePath)) {}

ComparisonWorker::ComparisonWorker(LadderSpec ladder, QString storePath, QObject* parent)
    : QObject(parent), ladder_(std::move(ladder)), storePath_(std::move(storePath)) {}

QString ComparisonWorker::name() const {
  return QString::fromStdString(ladder_ ? ladder_->name : spec_.name);
}

std::vector<std::string> ComparisonWorker::runNames() const {
  if (!ladder_) return spec_.optims;
  std::vector<std::string> names;
  for (const auto& r : ladder_->rungs) names.push_back(r.name);
  return names;
}

ComparisonWorker::~ComparisonWorker() {
  cancel();
  wait();
}

void ComparisonWorker::start() {
  if (thread_) return;
  thread_ = QThread::create([this] {
    Observer observer(*this);
    try {
      const ComparisonResult result =
          ladder_ ? run_ladder(*ladder_, storePath_.toStdString(), &observer, &cancel_)
                  : run_comparison(spec_, storePath_.toStdString(), &observer, &cancel_);
      QMetaObject::invokeMethod(
          this, [this, result] { emit finished(result); }, Qt::QueuedConnection);
    } catch (const std::exception& e) {
      const QString message = QString::fromUtf8(e.what());
      QMetaObject::invokeMethod(
          this, [this, message] { emit failed(message); }, Qt::QueuedConnection);
    }
  });
  thread_->setObjectName(QStringLiteral("comparison"));
  thread_->setParent(this);
  thread_->start();
}

void ComparisonWorker::cancel() {
  cancel_.store(true);
}

bool ComparisonWorker::isRunning() const {
  return thread_ && thread_->isRunning();
}

void ComparisonWorker::wait() {
  if (thread_) thread_->wait();
}

void ComparisonWorker::postStep(const RunProgress& progress) {
  {
    std::lock_guard lock(latestMutex_);
    latestStep_ = progress;
  }
  // One notification in flight at a time: a fast engine cannot flood the GUI's event queue.
  if (stepPosted_.exchange(true)) return;
  QMetaObject::invokeMethod(
      this,
      [this] {
        stepPosted_.store(false);
        RunProgress latest;
        {
          std::lock_guard lock(latestMutex_);
          latest = latestStep_;
        }
        emit stepWritten(latest);
      },
      Qt::QueuedConnection);
}

}  // namespace optiscope::ui
