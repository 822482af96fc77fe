#include "engine/optimizer_in_backward.h"

#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

namespace optiscope::engine {
namespace {

// LibTorch's AccumulateGrad node calls a leaf's post-accumulate hook once per backward pass, after
// the gradient of every use of the leaf has been summed into .grad: the C++ side of Python's
// Tensor.register_post_accumulate_grad_hook. (Tensor::register_hook would fire before the sum,
// once per incoming gradient, which is wrong for a tied embedding.)
class StepThisParameter final : public torch::autograd::PostAccumulateGradHook {
 public:
  StepThisParameter(optim::Optimizer& optimizer, std::size_t index) : optimizer_(optimizer), index_(index) {}
  void operator()(const torch::autograd::Variable& param) override {
    optimizer_.step_param(index_);
    // Released now, not at the end of the step: this is where the memory is saved.
    param.mutable_grad() = torch::Tensor();
  }

 private:
  optim::Optimizer& optimizer_;
  std::size_t index_;
};

}  // namespace

OptimizerInBackward::OptimizerInBackward(optim::Optimizer& optimizer) : params_(optimizer.params()) {
  for (std::size_t i = 0; i < params_.size(); ++i)
    torch::autograd::impl::set_post_acc_grad_hooks(params_[i],
                                                   std::make_unique<StepThisParameter>(optimizer, i));
}

OptimizerInBackward::~OptimizerInBackward() {
  for (const auto& p : params_) torch::autograd::impl::set_post_acc_grad_hooks(p, nullptr);
}

}  // namespace optiscope::engine
