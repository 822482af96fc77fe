#pragma once
// The SQLite store: the only thing the views read. Schema documented in docs/store-schema.md.
// One Store object belongs to one thread; a reader and a writer in two threads or processes each
// open their own (WAL mode lets them work side by side).
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/records.h"

struct sqlite3;

namespace optiscope {

class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The file system holding the store ran out of space (SQLite's SQLITE_FULL, or a write that failed
/// with ENOSPC). Not bad input: the store keeps every transaction committed before it.
class StoreDiskFull : public StoreError {
 public:
  using StoreError::StoreError;
};

/// An older store opened read-only: it can be read once migrated, which needs a writable open.
class StoreNeedsMigration : public StoreError {
 public:
  StoreNeedsMigration(const std::string& message, int version) : StoreError(message), version_(version) {}
  int version() const { return version_; }

 private:
  int version_;
};

inline constexpr int kStoreSchemaVersion = 4;

class Store {
 public:
  enum class Mode { read_only, read_write };

  /// read_write creates the file if needed; read_only never writes. Throws StoreError with a message
  /// fit for a user when the file is not an Optiscope store, is corrupt, or is from a newer version.
  static Store open(const std::string& path, Mode mode);
  /// Migrates an older store in place (a writable open does the same), for a reader that was
  /// refused with StoreNeedsMigration and whose user agreed.
  static void migrate(const std::string& path);
  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;
  ~Store();

  const std::string& path() const;
  int schema_version() const;

  std::int64_t add_comparison(const std::string& name, const std::string& spec_json);
  std::int64_t begin_run(std::int64_t comparison_id, int ordinal, const std::string& optim,
                         const std::string& spec_json, const std::string& device);
  /// One transaction per step: a crash loses at most the step being written.
  void append_step(std::int64_t run_id, const StepRecord& step);
  /// A step with its memory samples, paging counts and captured events, in one transaction.
  void append_bundle(std::int64_t run_id, const StepBundle& bundle);
  void set_capture(std::int64_t run_id, const CaptureInfo& info);
  /// A run over several ranks: how many, and how its optimizer state is sharded (schema 4).
  void set_run_ranks(std::int64_t run_id, int world_size, int zero_stage);
  void finish_run(const RunInfo& outcome_of_run);

  std::vector<ComparisonInfo> comparisons() const;
  std::vector<RunInfo> runs() const;
  std::vector<RunInfo> runs_of(std::int64_t comparison_id) const;
  RunInfo run(std::int64_t run_id) const;
  /// Steps with step > after_step, in order: lets a live view read only what is new.
  std::vector<StepRecord> steps(std::int64_t run_id, std::int64_t after_step = 0) const;
  /// One rank's samples (rank 0: the only one of a one-process run), in step, phase, point order.
  std::vector<MemorySample> memory_samples(std::int64_t run_id, std::int64_t after_step = 0,
                                           int rank = 0) const;
  /// Every rank's own view of each step, in step then rank order; empty for a one-process run.
  std::vector<RankStep> rank_steps(std::int64_t run_id, std::int64_t after_step = 0) const;
  std::vector<PagingStep> paging_steps(std::int64_t run_id, std::int64_t after_step = 0) const;
  std::vector<UmEventRow> um_events(std::int64_t run_id) const;
  std::int64_t um_event_count(std::int64_t run_id) const;
  std::optional<CaptureInfo> capture(std::int64_t run_id) const;

  struct KernelStepSummary {
    std::int64_t step = 0;
    std::int64_t count = 0;
    double busy_ms = 0.0;  // sum of kernel durations (overlaps counted twice)
  };
  std::vector<KernelStepSummary> kernel_summary(std::int64_t run_id) const;

  sqlite3* handle() const;

 public:
  struct Impl;

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace optiscope
