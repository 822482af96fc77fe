#pragma once
// adamw_32bit, adamw_8bit and their paged twins: bitsandbytes semantics, fp32 or 8-bit blockwise
// state whatever the parameter dtype. CPU runs use the element-wise math of adamw_math.h; CUDA
// runs the kernels of kernels/ (paged state in managed memory, prefetched before each update).
#include <memory>

#include "optim/adamw_math.h"
#include "optim/optimizer.h"

namespace optiscope::optim {

enum class StateBits { b32, b8 };

class ManagedBuffer;  // a cudaMallocManaged allocation (paged state), defined by the CUDA part

class BlockwiseAdamW final : public Optimizer {
 public:
  BlockwiseAdamW(std::vector<torch::Tensor> params, const OptimizerOptions& options, StateBits bits, bool paged);
  ~BlockwiseAdamW() override;
  void step() override;
  void set_lr(double lr) override { options_.lr = lr; }
  StateBytes state_bytes() const override;

  /// Dequantised (or fp32) moments of parameter i, for tests and checkpoints.
  torch::Tensor first_moment(std::size_t i) const;
  torch::Tensor second_moment(std::size_t i) const;
  bool is_8bit(std::size_t i) const { return state_[i].eight_bit; }

 private:
  struct State {
    bool eight_bit = false;
    bool paged = false;
    int step = 0;
    torch::Tensor m;  // float32 moments, or uint8 codes for 8-bit
    torch::Tensor v;
    torch::Tensor absmax_m;  // float32 per 256-element block (8-bit only)
    torch::Tensor absmax_v;
    std::shared_ptr<ManagedBuffer> managed;  // backs m and v when paged
  };

  State make_state(const torch::Tensor& p) const;
  AdamHyper hyper(int step) const;
  void step_cpu(torch::Tensor& p, State& s);
  void step_cuda(torch::Tensor& p, State& s);

  OptimizerOptions options_;
  StateBits bits_;
  bool paged_;
  std::vector<State> state_;
  torch::Tensor qmaps_;  // device copy of the two quantization maps [2, 256] (CUDA only)
};

}  // namespace optiscope::optim
