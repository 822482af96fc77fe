#pragma once
// Plain values that travel from the engine to the store and from the store to the views.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace optiscope {

// over_budget (schema 3): the run completed, but its measured device demand exceeded its budget at
// some sample, so it would not have fitted the emulated card.
enum class Outcome { running, completed, oom, failed, cancelled, interrupted, over_budget };

std::string to_string(Outcome o);
/// Unknown text maps to failed: an outcome we cannot read is not a success.
Outcome outcome_from_string(const std::string& text);

struct ComparisonInfo {
  std::int64_t id = 0;
  std::string name;
  std::string created_at;  // ISO 8601, UTC
  std::string spec_json;
};

struct RunInfo {
  std::int64_t id = 0;
  std::int64_t comparison_id = 0;
  int ordinal = 0;  // position of the variant in its comparison
  std::string optim;
  std::string spec_json;
  std::string device;  // e.g. "cpu", "NVIDIA H100 80GB HBM3"
  Outcome outcome = Outcome::running;
  std::string outcome_detail;  // the failure message, or what ran out
  std::optional<std::int64_t> oom_step;
  std::optional<std::int64_t> oom_bytes;
  // Schema 3, outcome over_budget: the first step whose demand exceeded the budget, and the largest
  // demand of the run.
  std::optional<std::int64_t> over_budget_step;
  std::optional<std::int64_t> over_budget_bytes;
  std::string started_at;
  std::string finished_at;
  // Schema 4: ranks of one data-parallel run (1 = one process) and how the optimizer state is
  // sharded over them (0 = replicated on every rank, 1 = state sharded, 2 = state and gradients).
  int world_size = 1;
  int zero_stage = 0;
};

struct StepRecord {
  std::int64_t step = 0;  // 1-based optimizer step
  double loss = 0.0;
  double lr = 0.0;
  double step_ms = 0.0;
  std::int64_t tokens = 0;     // tokens consumed by this step
  std::int64_t mem_bytes = 0;  // peak memory in use during the step
  // Schema 2: device-side time per phase (summed over micro-batches), evaluation loss if run.
  std::optional<double> forward_ms;
  std::optional<double> backward_ms;
  std::optional<double> optimizer_ms;
  std::optional<double> eval_loss;
  // Schema 4, runs over several ranks: rank 0's time in collectives (gradient all-reduce or
  // reduce-scatter, parameter all-gather) and the bytes it sent and received. Absent on one rank.
  std::optional<double> comm_ms;
  std::optional<std::int64_t> comm_bytes;
};

// communication (schema 4): the collectives of a run over several ranks, after the optimizer phase
// in a step's order of samples.
enum class Phase : int { forward = 0, backward = 1, optimizer = 2, communication = 3 };
enum class SamplePoint : int { end = 0, peak = 1 };

/// Memory split into the categories of DESIGN.md, in bytes, at one moment of a step.
struct MemorySample {
  std::int64_t step = 0;
  int rank = 0;  // schema 4: the rank that measured it (0 on a one-process run)
  Phase phase = Phase::forward;
  SamplePoint point = SamplePoint::end;
  std::int64_t parameters = 0;
  std::int64_t gradients = 0;
  std::int64_t optimizer_device = 0;          // optimizer state in ordinary device memory
  std::int64_t optimizer_paged_resident = 0;  // paged (managed) state now on the device
  std::int64_t optimizer_paged_host = 0;      // paged state now on the host
  std::int64_t optimizer_pinned_host = 0;     // offloaded state in pinned host memory
  std::int64_t activations = 0;               // the rest of what the allocator handed out
  std::int64_t allocator_cache = 0;           // reserved but free
  std::int64_t other_device = 0;              // what nothing explains: driver's used figure minus the rest
  // Schema 3. context: the CUDA context and libraries, measured once per process (NVML before and
  // after the context was made). driver_cache: device memory the driver still holds for evicted
  // managed pages; it hands it back on demand, so it is reclaimable and no part of any peak.
  // (Version-2 stores carry 0 in both; their context is inside other_device.)
  std::int64_t context = 0;
  std::int64_t driver_cache = 0;
  /// What the run needs of the card: the allocator's reservation, paged state resident on the
  /// device, and the context. Compared with the budget; the fit verdict.
  std::int64_t demand() const {
    return parameters + gradients + optimizer_device + activations + allocator_cache +
           optimizer_paged_resident + context;
  }
  /// Everything drawn on the device stack except the reclaimable driver cache.
  std::int64_t device_total() const { return demand() + other_device; }
};

/// Bytes the page manager knows it moved against what CUPTI recorded, per step.
struct PagingStep {
  std::int64_t step = 0;
  std::int64_t manager_htod = 0;
  std::int64_t manager_dtoh = 0;
  std::int64_t recorded_htod = 0;
  std::int64_t recorded_dtoh = 0;
  std::int64_t gpu_faults = 0;
  std::int64_t cpu_faults = 0;
  std::int64_t thrashing = 0;
  std::int64_t throttling = 0;
  // Schema 3: paged state resident on the device at the end of the step, by the page manager's
  // ledger and as measured from the migrations themselves (host-to-device minus device-to-host bytes
  // per allocation's address range; absent without CUPTI's unified-memory counters); the measured
  // peak within the step; allocations whose two figures differ by more than 1 %.
  std::int64_t ledger_resident = 0;
  std::optional<std::int64_t> measured_resident;
  std::optional<std::int64_t> measured_resident_peak;
  std::int64_t disagreeing_allocations = 0;
  /// |measured - ledger| over the ledger (over 1 byte when the ledger is 0); absent when unmeasured.
  std::optional<double> ledger_disagreement() const {
    if (!measured_resident) return std::nullopt;
    const double diff = static_cast<double>(*measured_resident - ledger_resident);
    return (diff < 0 ? -diff : diff) / static_cast<double>(ledger_resident > 0 ? ledger_resident : 1);
  }
  /// Recorded over known, 1.0 when nothing was known to move; may exceed 1 when the driver moved
  /// pages on its own (faults, its own evictions).
  double completeness() const {
    const double known = static_cast<double>(manager_htod + manager_dtoh);
    return known > 0 ? static_cast<double>(recorded_htod + recorded_dtoh) / known : 1.0;
  }
};

struct UmEventRow {
  std::int64_t step = -1;
  int kind = 0;   // probes::UmEventKind
  int cause = 0;  // probes::UmMigrationCause
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
  std::int64_t value = 0;
  std::int64_t address = 0;
};

struct KernelRow {
  std::int64_t step = -1;
  std::string name;
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
  std::int64_t stream = 0;
};

struct MemcpyRow {
  std::int64_t step = -1;
  int kind = 0;  // probes::MemcpyKind
  std::int64_t bytes = 0;
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
};

/// Schema 4: one rank's own view of a step of a run over several ranks (the steps table holds the
/// run's: the loss averaged over ranks, rank 0's times).
struct RankStep {
  std::int64_t step = 0;
  int rank = 0;
  double step_ms = 0.0;
  double forward_ms = 0.0;
  double backward_ms = 0.0;
  double optimizer_ms = 0.0;
  double comm_ms = 0.0;
  std::int64_t comm_bytes = 0;  // sent plus received by this rank in the step's collectives
  double loss = 0.0;            // this rank's own micro-batches
  std::int64_t mem_bytes = 0;   // this rank's peak device total in the step
};

/// Everything one step adds to the store, written in one transaction.
struct StepBundle {
  std::optional<StepRecord> step;    // absent for events that arrive after the last step
  std::vector<MemorySample> memory;  // every rank's samples on a run over several ranks
  std::vector<RankStep> ranks;       // schema 4: one per rank on a run over several ranks
  std::vector<PagingStep> paging;    // this step's, and earlier steps' whose late events arrived
  std::vector<UmEventRow> um_events;
  std::vector<KernelRow> kernels;
  std::vector<MemcpyRow> memcpys;
};

/// What a run could capture, and why not where not.
struct CaptureInfo {
  bool um_counters = false;
  bool kernels = false;
  bool memcpy = false;
  std::string note;
  std::int64_t dropped_records = 0;
};

}  // namespace optiscope
