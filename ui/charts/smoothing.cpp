#include "charts/smoothing.h"

#include <cmath>

namespace optiscope::ui {

std::vector<double> debiasedEma(const std::vector<double>& values, double weight) {
  std::vector<double> out(values.size());
  double last = 0.0;
  double debias = 0.0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double v = values[i];
    if (!std::isfinite(v)) {
      out[i] = v;
      continue;
    }
    last = last * weight + (1.0 - weight) * v;
    debias = debias * weight + (1.0 - weight);
    out[i] = last / debias;
  }
  return out;
}

}  // namespace optiscope::ui
