#pragma once
// Plain values that travel from the engine to the store and from the store to the views.
#include <cstdint>
#include <optional>
#include <string>

namespace optiscope {

enum class Outcome { running, completed, oom, failed, cancelled, interrupted };

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
  std::string started_at;
  std::string finished_at;
};

struct StepRecord {
  std::int64_t step = 0;  // 1-based optimizer step
  double loss = 0.0;
  double lr = 0.0;
  double step_ms = 0.0;
  std::int64_t tokens = 0;     // tokens consumed by this step
  std::int64_t mem_bytes = 0;  // peak memory in use during the step
};

}  // namespace optiscope
