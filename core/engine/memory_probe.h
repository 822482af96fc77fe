#pragma once
// Splits device memory into the categories of DESIGN.md. Parameters, gradients and optimizer
// state are measured from the tensors themselves; activations are the rest of what the allocator
// handed out; paged state comes from the page manager, which LibTorch's statistics cannot see.
#include <torch/types.h>

#include <vector>

#include "engine/device_runtime.h"
#include "optim/optimizer.h"
#include "store/records.h"

namespace optiscope::engine {

class MemoryProbe {
 public:
  MemoryProbe(const c10::Device& device, std::vector<torch::Tensor> params, const optim::Optimizer& optimizer);

  /// point == end uses what is allocated now; point == peak the allocator's peak since its reset.
  MemorySample sample(std::int64_t step, Phase phase, SamplePoint point) const;

 private:
  c10::Device device_;
  std::vector<torch::Tensor> params_;
  const optim::Optimizer& optimizer_;
  std::int64_t param_bytes_ = 0;
};

}  // namespace optiscope::engine
