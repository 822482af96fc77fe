#include "charts/warm_up.h"

#include <algorithm>

namespace optiscope::ui {

std::size_t warmUpSteps(const std::vector<StepRecord>& steps) {
  if (steps.size() < 4) return 0;
  std::vector<double> ms;
  ms.reserve(steps.size());
  for (const auto& s : steps) ms.push_back(s.step_ms);
  const auto mid = ms.begin() + static_cast<std::ptrdiff_t>(ms.size() / 2);
  std::nth_element(ms.begin(), mid, ms.end());
  const double median = *mid;
  const std::size_t limit = std::max<std::size_t>(1, steps.size() / 10);
  std::size_t n = 0;
  while (n < limit && steps[n].step_ms > kWarmUpFactor * median) ++n;
  return n;
}

}  // namespace optiscope::ui
