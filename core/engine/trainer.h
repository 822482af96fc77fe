#pragma once
// One fine-tuning run: model, data, precision and optimizer from a RunSpec, stepped until
// max_steps, a cancel, or an out-of-memory, which is a result, not a crash.
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "spec/run_spec.h"
#include "store/records.h"

namespace optiscope::engine {

struct TrainResult {
  Outcome outcome = Outcome::completed;
  std::string detail;
  std::optional<std::int64_t> oom_step;
  std::optional<std::int64_t> oom_bytes;
  // Under a budget: the first step whose measured demand exceeded it, and the run's largest demand.
  std::optional<std::int64_t> over_budget_step;
  std::optional<std::int64_t> over_budget_bytes;
  std::int64_t steps_done = 0;
};

/// Where a run's measurements go (the comparison runner writes them to the store).
class RunRecorder {
 public:
  virtual ~RunRecorder() = default;
  virtual void on_capture(const CaptureInfo&) {}
  /// A step with its memory samples and captured events; also a last bundle of late events.
  virtual void on_bundle(const StepBundle& bundle) = 0;
};

/// One rank of a run over several ranks of this host (RunSpec.nproc_per_node > 1), a process the
/// launcher (core/distributed/launcher.h) started. Every rank runs train(); rank 0 alone is given
/// a recorder, and its bundles carry every rank's memory samples and RankStep.
struct RankOptions {
  int rank = 0;
  int world_size = 1;
  int port = 0;         // rendezvous: a TCPStore on 127.0.0.1:port, served by rank 0
  int timeout_s = 300;  // how long the rendezvous and a collective wait for the other ranks
};

struct TrainOptions {
  bool capture = true;  // CUPTI capture on CUDA runs
  /// Deferred readback: each step's loss and times are read once the next step's work is queued,
  /// so the host never waits for the device to drain and the device never waits between steps;
  /// step_ms is then device time from one step's start to the next one's. Records reach the
  /// recorder one step late (a cancel stops one step later). Every-step mode instead synchronises
  /// at the end of each step and times it with the host clock. Unset: deferred on CUDA runs with
  /// capture off, every-step otherwise (CUPTI assigns its records to steps by host time, which
  /// needs the device idle at each boundary).
  std::optional<bool> deferred_readback;
  /// Set on the ranks of a run over several ranks (nproc_per_node > 1); such a run without it fails.
  /// Runs over several ranks use every-step readback (each step's records are exchanged anyway).
  std::optional<RankOptions> rank;
  /// For tests: the final parameters, on the CPU, saved with torch::save to this file when the run
  /// completes (nothing when empty).
  std::string save_parameters;
};

TrainResult train(const RunSpec& spec, RunRecorder* recorder, const std::atomic<bool>* cancel,
                  const TrainOptions& options = {});

/// Convenience for tests and tools that only want the step records.
using StepSink = std::function<void(const StepRecord&)>;
TrainResult train(const RunSpec& spec, const StepSink& on_step, const std::atomic<bool>* cancel);

}  // namespace optiscope::engine
