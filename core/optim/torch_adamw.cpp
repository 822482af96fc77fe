#include "optim/torch_adamw.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "optim/state_file.h"

namespace optiscope::optim {

TorchAdamW::TorchAdamW(std::vector<torch::Tensor> params, const OptimizerOptions& options, bool fused)
    : Optimizer(std::move(params)), options_(options), fused_(fused) {
  torch::NoGradGuard no_grad;
  for (const auto& p : params_) {
    // Like torch.optim.AdamW: moments in the parameter's dtype, allocated up front.
    exp_avg_.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    exp_avg_sq_.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    steps_.push_back(torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat32).device(p.device())));
    counts_.push_back(0);
  }
}

StateBytes TorchAdamW::state_bytes() const {
  StateBytes b;
  for (std::size_t i = 0; i < params_.size(); ++i)
    b.device += tensor_bytes(exp_avg_[i]) + tensor_bytes(exp_avg_sq_[i]);
  return b;
}

void TorchAdamW::step() {
  torch::NoGradGuard no_grad;
  if (fused_) {
    std::vector<std::size_t> all;
    for (std::size_t i = 0; i < params_.size(); ++i) all.push_back(i);
    step_fused(all);
  } else {
    for (std::size_t i = 0; i < params_.size(); ++i) step_foreach(i);
  }
}

void TorchAdamW::step_param(std::size_t i) {
  torch::NoGradGuard no_grad;
  if (fused_) {
    step_fused({i});
  } else {
    step_foreach(i);
  }
}

// The for-each algorithm of torch.optim.AdamW (decay first, then the Adam step), one tensor at a
// time: the "adamw_torch" reference people compare against.
void TorchAdamW::step_foreach(std::size_t i) {
  auto& p = params_[i];
  const auto& g = p.grad();
  if (!g.defined()) return;
  const std::int64_t step = ++counts_[i];
  const double bc1 = 1.0 - std::pow(options_.beta1, static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(options_.beta2, static_cast<double>(step));
  const double step_size = options_.lr / bc1;
  const double bc2_sqrt = std::sqrt(bc2);
  if (options_.weight_decay != 0.0) p.mul_(1.0 - options_.lr * options_.weight_decay);
  exp_avg_[i].lerp_(g, 1.0 - options_.beta1);
  exp_avg_sq_[i].mul_(options_.beta2).addcmul_(g, g, 1.0 - options_.beta2);
  const auto denom = (exp_avg_sq_[i].sqrt() / bc2_sqrt).add_(options_.eps);
  p.addcdiv_(exp_avg_[i], denom, -step_size);
}

// One multi-tensor launch over the parameters `which` (all of them in step(), one in backward):
// the kernel's arithmetic is element-wise, so the grouping changes no bit.
void TorchAdamW::step_fused(const std::vector<std::size_t>& which) {
  std::vector<torch::Tensor> ps, gs, ms, vs, ss;
  for (const std::size_t i : which) {
    if (!params_[i].grad().defined()) continue;
    ps.push_back(params_[i]);
    gs.push_back(params_[i].grad());
    ms.push_back(exp_avg_[i]);
    vs.push_back(exp_avg_sq_[i]);
    steps_[i].add_(1);
    ss.push_back(steps_[i]);
  }
  if (ps.empty()) return;
  at::_fused_adamw_(ps, gs, ms, vs, {}, ss, options_.lr, options_.beta1, options_.beta2,
                    options_.weight_decay, options_.eps, /*amsgrad=*/false, /*maximize=*/false);
}

// The state as torch.optim.AdamW's state_dict names it, with per-parameter step counts, so a file
// of the for-each path loads into the fused one and back.
void TorchAdamW::save_state(StateFileWriter& out) const {
  out.metadata("layout", "torch_adamw");
  record_options(out, options_);
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const std::string prefix = "state." + std::to_string(i) + ".";
    out.add(prefix + "step",
            fused_ ? steps_[i] : torch::scalar_tensor(static_cast<double>(counts_[i]), torch::kFloat32));
    out.add(prefix + "exp_avg", exp_avg_[i]);
    out.add(prefix + "exp_avg_sq", exp_avg_sq_[i]);
  }
}

void TorchAdamW::load_state(const StateFileReader& in) {
  expect_layout(in, "torch_adamw", params_.size());
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const std::string prefix = "state." + std::to_string(i) + ".";
    for (const auto* name : {"exp_avg", "exp_avg_sq"}) {
      const auto& t = exp_avg_[i];
      if (in.dtype(prefix + name) != t.scalar_type() ||
          c10::IntArrayRef(in.shape(prefix + name)) != t.sizes())
        throw std::runtime_error(
            "optimizer state file: " + prefix + name +
            " does not match this optimizer's state (different parameter shapes or dtype?)");
    }
    if (!in.shape(prefix + "step").empty())
      throw std::runtime_error("optimizer state file: bad " + prefix + "step");
  }
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const std::string prefix = "state." + std::to_string(i) + ".";
    in.read_into(prefix + "exp_avg", exp_avg_[i]);
    in.read_into(prefix + "exp_avg_sq", exp_avg_sq_[i]);
    const torch::Tensor step = in.read(prefix + "step").to(torch::kFloat32);
    steps_[i].copy_(step);
    counts_[i] = static_cast<std::int64_t>(step.item<float>());
  }
}

}  // namespace optiscope::optim
