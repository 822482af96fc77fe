#pragma once
// Learning rate per optimizer step, as transformers' get_scheduler computes it: the k-th step
// (0-based) uses lr * lambda(k), so with warm-up the very first step has lr 0.
#include <cstdint>
#include <string>

namespace optiscope::engine {

std::int64_t warmup_steps(double warmup_ratio, std::int64_t total_steps);
double learning_rate_at(const std::string& scheduler, double base_lr, std::int64_t step_index,
                        std::int64_t warmup, std::int64_t total_steps);

}  // namespace optiscope::engine
