#pragma once
// adamw_torch and adamw_torch_fused: LibTorch's own AdamW, state in the parameter dtype.
#include "optim/optimizer.h"

namespace optiscope::optim {

class TorchAdamW final : public Optimizer {
 public:
  TorchAdamW(std::vector<torch::Tensor> params, const OptimizerOptions& options, bool fused);
  void step() override;
  void step_param(std::size_t i) override;
  void set_lr(double lr) override { options_.lr = lr; }
  StateBytes state_bytes() const override;
  std::string name() const override { return fused_ ? "adamw_torch_fused" : "adamw_torch"; }

 protected:
  void save_state(StateFileWriter& out) const override;
  void load_state(const StateFileReader& in) override;

 private:
  void step_foreach(std::size_t i);
  void step_fused(const std::vector<std::size_t>& which);

  OptimizerOptions options_;
  bool fused_;
  std::vector<torch::Tensor> exp_avg_;
  std::vector<torch::Tensor> exp_avg_sq_;
  std::vector<torch::Tensor> steps_;  // float32 scalars, as the fused kernel wants (fused only)
  // Steps each parameter has taken (the for-each path's bias correction). Per parameter, as
  // torch.optim.AdamW counts them, so that an update made in backward, one tensor at a time,
  // needs no step counter shared by all of them.
  std::vector<std::int64_t> counts_;
};

}  // namespace optiscope::optim
