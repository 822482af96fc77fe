#pragma once
// Warm-up steps: the first steps of a run that took far longer than the rest (allocator growth,
// kernel selection, lazy initialisation; 1.5 s against 60 ms on a GPU). The step-time chart draws
// them as markers of their own and keeps them off its autoscale, or one of them would flatten
// every other step into a line along the bottom.
#include <cstddef>
#include <vector>

#include "store/records.h"

namespace optiscope::ui {

/// A step is warm-up when it is among the first tenth of the run (at least the first step) and
/// takes more than this many times the run's median step.
inline constexpr double kWarmUpFactor = 2.0;

/// How many leading steps of `steps` are warm-up (0 for runs of fewer than four steps).
std::size_t warmUpSteps(const std::vector<StepRecord>& steps);

}  // namespace optiscope::ui
