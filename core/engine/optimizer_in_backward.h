#pragma once
// Optimizer in backward (torchtune's optimizer_in_bwd): each parameter is updated as soon as
// backward has accumulated its gradient, and the gradient is released at once, so the gradients
// of the whole model never exist together. Peak memory drops by about their size.
//
// What it cannot do, and the run spec refuses: clipping by the global gradient norm (the norm is
// known only once every gradient exists, by which time the updates are done; torchtune refuses
// clip_grad_norm with optimizer_in_bwd as well) and gradient accumulation (the update would run
// on each micro-batch's share alone).
#include <torch/types.h>

#include <vector>

#include "optim/optimizer.h"

namespace optiscope::engine {

class OptimizerInBackward {
 public:
  /// Hooks every parameter of the optimizer: from now on each backward pass updates it.
  explicit OptimizerInBackward(optim::Optimizer& optimizer);
  /// Removes the hooks: later backward passes leave gradients in .grad again.
  ~OptimizerInBackward();
  OptimizerInBackward(const OptimizerInBackward&) = delete;
  OptimizerInBackward& operator=(const OptimizerInBackward&) = delete;

 private:
  std::vector<torch::Tensor> params_;
};

}  // namespace optiscope::engine
