#pragma once
// Runs one comparison on a thread of its own. The engine writes the store through its own
// connection; this object only tells the GUI thread that new rows exist, and the views then read
// them from the store. Every signal is emitted on the GUI thread.
#include <QMetaType>
#include <QObject>
#include <QString>
#include <atomic>
#include <mutex>
#include <optional>
#include <vector>

#include "engine/comparison_runner.h"
#include "spec/run_spec.h"

class QThread;

namespace optiscope::ui {

class ComparisonWorker : public QObject {
  Q_OBJECT

 public:
  ComparisonWorker(ComparisonSpec spec, QString storePath, QObject* parent = nullptr);
  /// Records a fit ladder instead: one run per rung, in one comparison.
  ComparisonWorker(LadderSpec ladder, QString storePath, QObject* parent = nullptr);
  /// Cancels a comparison still running and waits for its thread.
  ~ComparisonWorker() override;

  void start();
  /// Asks the engine to stop after the current step; finished() follows.
  void cancel();
  bool isRunning() const;
  bool isCancelling() const { return cancel_.load(); }
  /// Blocks until the thread has ended (after cancel(), this is at most one step).
  void wait();

  const ComparisonSpec& spec() const { return spec_; }
  /// The comparison's name, and what each of its runs is called (variants, or a ladder's rungs).
  QString name() const;
  std::vector<std::string> runNames() const;
  const QString& storePath() const { return storePath_; }

 signals:
  void runStarted(const optiscope::RunProgress& progress);
  /// Coalesced: when steps come faster than the GUI takes them, only the latest is reported.
  void stepWritten(const optiscope::RunProgress& progress);
  void runFinished(const optiscope::RunProgress& progress, optiscope::Outcome outcome, const QString& detail);
  void finished(const optiscope::ComparisonResult& result);
  /// The comparison could not run at all (bad spec, unwritable store).
  void failed(const QString& message);

 private:
  class Observer;
  friend class Observer;

  void postStep(const RunProgress& progress);

  ComparisonSpec spec_;
  std::optional<LadderSpec> ladder_;
  QString storePath_;
  QThread* thread_ = nullptr;
  std::atomic<bool> cancel_{false};
  std::mutex latestMutex_;
  RunProgress latestStep_;
  std::atomic<bool> stepPosted_{false};
};

}  // namespace optiscope::ui

Q_DECLARE_METATYPE(optiscope::RunProgress)
Q_DECLARE_METATYPE(optiscope::ComparisonResult)
Q_DECLARE_METATYPE(optiscope::Outcome)
