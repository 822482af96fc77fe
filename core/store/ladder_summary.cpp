#include "store/ladder_summary.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace optiscope {

std::int64_t demand_bytes(const MemorySample& sample) {
  return sample.demand();
}

std::optional<MemorySample> peak_demand(const std::vector<MemorySample>& samples) {
  const auto it = std::max_element(
      samples.begin(), samples.end(),
      [](const MemorySample& a, const MemorySample& b) { return demand_bytes(a) < demand_bytes(b); });
  if (it == samples.end()) return std::nullopt;
  return *it;
}

std::string to_string(RungVerdict v) {
  switch (v) {
    case RungVerdict::fits:
      return "fits";
    case RungVerdict::over_budget:
      return "over_budget";
    case RungVerdict::oom:
      return "oom";
    case RungVerdict::failed:
      return "failed";
    case RungVerdict::cancelled:
      return "cancelled";
    case RungVerdict::interrupted:
      return "interrupted";
    case RungVerdict::running:
      return "running";
  }
  return "failed";
}

RungVerdict rung_verdict(Outcome outcome, std::int64_t peak_demand_bytes, std::uint64_t budget_bytes) {
  switch (outcome) {
    case Outcome::completed:
      return budget_bytes > 0 && peak_demand_bytes > static_cast<std::int64_t>(budget_bytes)
                 ? RungVerdict::over_budget
                 : RungVerdict::fits;
    case Outcome::over_budget:
      return RungVerdict::over_budget;
    case Outcome::oom:
      return RungVerdict::oom;
    case Outcome::failed:
      return RungVerdict::failed;
    case Outcome::cancelled:
      return RungVerdict::cancelled;
    case Outcome::interrupted:
      return RungVerdict::interrupted;
    case Outcome::running:
      return RungVerdict::running;
  }
  return RungVerdict::failed;
}

bool superseded(const RunInfo& run, const std::vector<RunInfo>& comparison_runs) {
  return std::any_of(comparison_runs.begin(), comparison_runs.end(), [&](const RunInfo& o) {
    return o.comparison_id == run.comparison_id && o.ordinal == run.ordinal && o.id > run.id;
  });
}

std::vector<LadderSummary> summarize_ladders(const Store& store, std::int64_t loss_step) {
  std::vector<LadderSummary> out;
  for (const auto& c : store.comparisons()) {
    auto spec = ladder_from_json(c.spec_json);
    if (!spec) continue;
    LadderSummary ladder{c, *spec, {}};
    const auto runs = store.runs_of(c.id);  // by ordinal, then id
    for (const auto& run : runs) {
      if (superseded(run, runs)) continue;
      RungSummary r;
      const auto i = static_cast<std::size_t>(run.ordinal);
      r.rung = i < spec->rungs.size() ? spec->rungs[i].name : run.optim;
      if (i < spec->rungs.size()) r.spec = spec->rungs[i].spec;
      r.run = summarize_run(store, run);
      r.peak = peak_demand(store.memory_samples(run.id));
      r.peak_demand = r.run.peak_demand_bytes;  // with measured residency, as the trainer's verdict
      r.verdict = rung_verdict(run.outcome, r.peak_demand, spec->budget_bytes);
      const auto steps = store.steps(run.id);
      if (!steps.empty()) {
        const auto at = std::find_if(steps.begin(), steps.end(),
                                     [&](const StepRecord& s) { return s.step == loss_step; });
        const StepRecord& s = loss_step > 0 && at != steps.end() ? *at : steps.back();
        if (loss_step <= 0 || at != steps.end()) {
          r.loss_after = s.loss;
          r.loss_step = s.step;
        }
      }
      ladder.rungs.push_back(std::move(r));
    }
    out.push_back(std::move(ladder));
  }
  return out;
}

namespace {

nlohmann::json sample_json(const MemorySample& s) {
  return {{"parameters", s.parameters},
          {"gradients", s.gradients},
          {"optimizer_device", s.optimizer_device},
          {"optimizer_paged_resident", s.optimizer_paged_resident},
          {"activations", s.activations},
          {"allocator_cache", s.allocator_cache},
          {"context", s.context},
          {"other_device", s.other_device},
          {"driver_cache", s.driver_cache},
          {"optimizer_paged_host", s.optimizer_paged_host},
          {"optimizer_pinned_host", s.optimizer_pinned_host},
          {"step", s.step},
          {"phase", static_cast<int>(s.phase) == 0   ? "forward"
                    : static_cast<int>(s.phase) == 1 ? "backward"
                                                     : "optimizer"}};
}

}  // namespace

std::string ladders_to_json(const std::vector<LadderSummary>& ladders) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& l : ladders) {
    nlohmann::json rungs = nlohmann::json::array();
    for (const auto& r : l.rungs) {
      nlohmann::json j = {{"rung", r.rung},
                          {"optim", r.run.run.optim},
                          {"outcome", to_string(r.verdict)},
                          {"run_outcome", to_string(r.run.run.outcome)},
                          {"detail", r.run.run.outcome_detail},
                          {"steps", r.run.steps},
                          {"peak_demand_bytes", r.peak_demand},
                          {"median_step_ms", r.run.median_step_ms},
                          {"tokens_per_s", r.run.tokens_per_s}};
      j["peak_demand_by_category"] = r.peak ? sample_json(*r.peak) : nlohmann::json(nullptr);
      j["loss_after_steps"] = r.loss_after ? nlohmann::json({{"step", r.loss_step}, {"loss", *r.loss_after}})
                                           : nlohmann::json(nullptr);
      if (r.run.run.oom_step) j["oom_step"] = *r.run.run.oom_step;
      if (r.run.run.oom_bytes) j["oom_bytes"] = *r.run.run.oom_bytes;
      if (r.run.run.over_budget_step) j["over_budget_step"] = *r.run.run.over_budget_step;
      if (r.run.run.over_budget_bytes) j["over_budget_bytes"] = *r.run.run.over_budget_bytes;
      j["spec"] = nlohmann::json::parse(to_json(r.spec));
      rungs.push_back(std::move(j));
    }
    out.push_back({{"ladder", l.comparison.name},
                   {"comparison", l.comparison.id},
                   {"created_at", l.comparison.created_at},
                   {"device", l.rungs.empty() ? std::string() : l.rungs.front().run.run.device},
                   {"budget_bytes", l.spec.budget_bytes},
                   {"rungs", rungs}});
  }
  return out.dump(2);
}

}  // namespace optiscope
