#include "engine/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace optiscope::engine {

std::int64_t warmup_steps(double warmup_ratio, std::int64_t total_steps) {
  return static_cast<std::int64_t>(std::ceil(warmup_ratio * static_cast<double>(total_steps)));
}

double learning_rate_at(const std::string& scheduler, double base_lr, std::int64_t k, std::int64_t warmup,
                        std::int64_t total) {
  if (k < warmup)
    return base_lr * static_cast<double>(k) / static_cast<double>(std::max<std::int64_t>(1, warmup));
  if (scheduler == "constant") return base_lr;
  const double progress =
      static_cast<double>(k - warmup) / static_cast<double>(std::max<std::int64_t>(1, total - warmup));
  if (scheduler == "cosine")
    return base_lr * std::max(0.0, 0.5 * (1.0 + std::cos(std::numbers::pi * progress)));
  return base_lr * std::max(0.0, static_cast<double>(total - k) /
                                     static_cast<double>(std::max<std::int64_t>(1, total - warmup)));
}

}  // namespace optiscope::engine
