#include "store/run_summary.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

namespace optiscope {
namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string gib(std::int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string outcome_text(const RunInfo& r) {
  std::string s = to_string(r.outcome);
  if (r.outcome == Outcome::oom && r.oom_step) s += " at step " + std::to_string(*r.oom_step);
  if (r.outcome == Outcome::over_budget && r.over_budget_step)
    s += " from step " + std::to_string(*r.over_budget_step);
  return s;
}

}  // namespace

std::optional<double> final_loss_of(const std::vector<StepRecord>& steps, int last) {
  const std::size_t n = std::min(steps.size(), static_cast<std::size_t>(std::max(last, 1)));
  double sum = 0.0;
  int count = 0;
  for (std::size_t i = steps.size() - n; i < steps.size(); ++i) {
    if (!std::isfinite(steps[i].loss)) continue;
    sum += steps[i].loss;
    ++count;
  }
  if (count == 0) return std::nullopt;
  return sum / count;
}

std::optional<double> last_eval_loss_of(const std::vector<StepRecord>& steps) {
  for (auto it = steps.rbegin(); it != steps.rend(); ++it)
    if (it->eval_loss) return it->eval_loss;
  return std::nullopt;
}

std::int64_t peak_demand_bytes(const std::vector<MemorySample>& samples,
                               const std::vector<PagingStep>& paging) {
  // The ledger's largest residency within each step: its samples, and where the step began (the
  // previous step's last sample).
  std::map<std::int64_t, std::int64_t> ledger_peak;
  std::map<std::int64_t, std::int64_t> last_of_step;
  for (const auto& m : samples) {
    auto& peak = ledger_peak[m.step];
    peak = std::max(peak, m.optimizer_paged_resident);
    last_of_step[m.step] = m.optimizer_paged_resident;
  }
  for (auto& [step, peak] : ledger_peak)
    if (const auto prev = last_of_step.find(step - 1); prev != last_of_step.end())
      peak = std::max(peak, prev->second);
  // What the migrations measured above the ledger in a step is added to each of its samples.
  std::map<std::int64_t, std::int64_t> unledgered;
  for (const auto& p : paging)
    if (p.measured_resident_peak)
      unledgered[p.step] = std::max<std::int64_t>(0, *p.measured_resident_peak - ledger_peak[p.step]);
  std::int64_t demand = 0;
  for (const auto& m : samples) {
    const auto it = unledgered.find(m.step);
    demand = std::max(demand, m.demand() + (it != unledgered.end() ? it->second : 0));
  }
  return demand;
}

RunSummary summarize_run(const Store& store, const RunInfo& run) {
  RunSummary s;
  s.run = run;
  const auto steps = store.steps(run.id);
  s.steps = static_cast<std::int64_t>(steps.size());
  std::vector<double> ms;
  double tokens = 0.0;
  for (const auto& st : steps) {
    ms.push_back(st.step_ms);
    s.total_s += st.step_ms / 1000.0;
    tokens = static_cast<double>(st.tokens);
  }
  if (!steps.empty()) {
    s.first_loss = steps.front().loss;
    s.last_loss = steps.back().loss;
    s.final_loss = final_loss_of(steps).value_or(steps.back().loss);
    s.eval_loss = last_eval_loss_of(steps);
  }
  s.median_step_ms = median(ms);
  s.tokens_per_s = s.median_step_ms > 0 ? tokens / (s.median_step_ms / 1000.0) : 0.0;
  const auto samples = store.memory_samples(run.id);
  const auto paging = store.paging_steps(run.id);
  s.peak_demand_bytes = peak_demand_bytes(samples, paging);
  for (const auto& m : samples) {
    s.paged_host_max = std::max(s.paged_host_max, m.optimizer_paged_host);
    s.driver_cache_max = std::max(s.driver_cache_max, m.driver_cache);
    if (m.point != SamplePoint::peak) continue;
    if (m.device_total() > s.peak_device_bytes) {
      s.peak_device_bytes = m.device_total();
      s.peak = m;
    }
  }
  for (const auto& p : paging) {
    s.migrated_htod += p.recorded_htod;
    s.migrated_dtoh += p.recorded_dtoh;
    s.manager_htod += p.manager_htod;
    s.manager_dtoh += p.manager_dtoh;
    s.gpu_faults += p.gpu_faults;
    if (const auto d = p.ledger_disagreement())
      s.ledger_vs_migrations_pct = std::max(s.ledger_vs_migrations_pct.value_or(0.0), *d * 100.0);
  }
  if (const auto c = store.capture(run.id)) s.capture_note = c->note;
  return s;
}

std::vector<RunSummary> summarize_runs(const Store& store, const std::vector<RunInfo>& runs) {
  std::vector<RunSummary> out;
  out.reserve(runs.size());
  for (const auto& r : runs) out.push_back(summarize_run(store, r));
  return out;
}

std::string summaries_to_csv(const std::vector<RunSummary>& rows) {
  std::ostringstream o;
  o << "run,comparison,optim,outcome,oom_step,oom_bytes,steps,first_loss,last_loss,final_loss,eval_loss,"
       "median_step_ms,tokens_per_s,"
       "total_s,peak_device_bytes,parameters,gradients,optimizer_device,optimizer_paged_resident,"
       "optimizer_paged_host,activations,allocator_cache,other_device,paged_host_max,migrated_htod,migrated_"
       "dtoh,"
       "manager_htod,manager_dtoh,gpu_faults,peak_demand_bytes,context,driver_cache_max,ledger_vs_migrations_"
       "pct\n";
  for (const auto& s : rows) {
    const auto& p = s.peak;
    o << s.run.id << ',' << s.run.comparison_id << ',' << s.run.optim << ',' << to_string(s.run.outcome)
      << ',' << (s.run.oom_step ? std::to_string(*s.run.oom_step) : "") << ','
      << (s.run.oom_bytes ? std::to_string(*s.run.oom_bytes) : "") << ',' << s.steps << ','
      << fixed(s.first_loss, 6) << ',' << fixed(s.last_loss, 6) << ',' << fixed(s.final_loss, 6) << ','
      << (s.eval_loss ? fixed(*s.eval_loss, 6) : "") << ',' << fixed(s.median_step_ms, 3) << ','
      << fixed(s.tokens_per_s, 1) << ',' << fixed(s.total_s, 3) << ',' << s.peak_device_bytes << ','
      << p.parameters << ',' << p.gradients << ',' << p.optimizer_device << ',' << p.optimizer_paged_resident
      << ',' << p.optimizer_paged_host << ',' << p.activations << ',' << p.allocator_cache << ','
      << p.other_device << ',' << s.paged_host_max << ',' << s.migrated_htod << ',' << s.migrated_dtoh << ','
      << s.manager_htod << ',' << s.manager_dtoh << ',' << s.gpu_faults << ',' << s.peak_demand_bytes << ','
      << p.context << ',' << s.driver_cache_max << ','
      << (s.ledger_vs_migrations_pct ? fixed(*s.ledger_vs_migrations_pct, 3) : std::string()) << '\n';
  }
  return o.str();
}

std::string summaries_to_markdown(const std::vector<RunSummary>& rows) {
  std::ostringstream o;
  o << "| variant | outcome | peak demand GiB | params | grads | optimizer (device) | paged resident | "
       "paged on host | activations | cache | context | other | driver cache (reclaimable) | "
       "migrated H→D / D→H GiB | median step ms | tokens/s | loss, last step | loss, mean of last "
    << kFinalLossSteps << " |\n";
  o << "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& s : rows) {
    const auto& p = s.peak;
    o << "| " << s.run.optim << " | " << outcome_text(s.run) << " | " << gib(s.peak_demand_bytes) << " | "
      << gib(p.parameters) << " | " << gib(p.gradients) << " | " << gib(p.optimizer_device) << " | "
      << gib(p.optimizer_paged_resident) << " | " << gib(s.paged_host_max) << " | " << gib(p.activations)
      << " | " << gib(p.allocator_cache) << " | " << gib(p.context) << " | " << gib(p.other_device) << " | "
      << gib(s.driver_cache_max) << " | " << gib(s.migrated_htod) << " / " << gib(s.migrated_dtoh) << " | "
      << (s.steps ? fixed(s.median_step_ms, 1) : "-") << " | " << (s.steps ? fixed(s.tokens_per_s, 0) : "-")
      << " | " << (s.steps ? fixed(s.last_loss, 4) : "-") << " | " << (s.steps ? fixed(s.final_loss, 4) : "-")
      << " |\n";
  }
  return o.str();
}

}  // namespace optiscope
