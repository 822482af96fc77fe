#include "run_summary.h"

#include <algorithm>
#include <cmath>

namespace optiscope::ui {
namespace {

double median(std::vector<double> values) {
  const auto middle = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), middle, values.end());
  return *middle;
}

}  // namespace

RunSummary summarize(const std::vector<StepRecord>& steps, int tail) {
  RunSummary s;
  s.steps = static_cast<std::int64_t>(steps.size());
  if (steps.empty()) return s;

  if (std::isfinite(steps.back().loss)) s.last_loss = steps.back().loss;
  s.final_loss = final_loss_of(steps, tail);
  s.eval_loss = last_eval_loss_of(steps);

  // Medians, not totals: a few steps slowed by warm-up or by another program on the machine would
  // otherwise decide the figure.
  std::vector<double> ms;
  std::vector<double> rates;
  std::int64_t peak = 0;
  for (const auto& st : steps) {
    ms.push_back(st.step_ms);
    if (st.step_ms > 0 && st.tokens > 0)
      rates.push_back(static_cast<double>(st.tokens) * 1000.0 / st.step_ms);
    peak = std::max(peak, st.mem_bytes);
  }
  s.median_step_ms = median(ms);
  if (!rates.empty()) s.tokens_per_second = median(rates);
  if (peak > 0) s.peak_mem_bytes = peak;
  return s;
}

}  // namespace optiscope::ui
