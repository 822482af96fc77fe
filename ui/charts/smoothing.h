#pragma once
// TensorBoard's scalar smoothing: an exponential moving average debiased like Adam's moments, so
// the first points are not pulled towards zero. Non-finite values are passed through as gaps and
// do not disturb the average.
#include <vector>

namespace optiscope::ui {

/// weight in [0, 1): 0 returns the values unchanged, 0.99 smooths heavily.
std::vector<double> debiasedEma(const std::vector<double>& values, double weight);

}  // namespace optiscope::ui
