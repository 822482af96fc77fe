// BlockwiseAdamW's device-specific parts for builds without CUDA: state lives in CPU tensors;
// paging and offload do not apply (the UI says so rather than drawing empty paging charts, and
// note() tells which variant ran as its non-offload twin).
#include <stdexcept>

#include "optim/blockwise_adamw.h"

#include <torch/torch.h>

namespace optiscope::optim {

class ManagedBuffer {};
class PinnedState {};
class OffloadStream {};

namespace {

[[noreturn]] void no_cuda() {
  throw std::runtime_error("this build of Optiscope has no CUDA support");
}

}  // namespace

BlockwiseAdamW::State BlockwiseAdamW::make_state(const torch::Tensor& p, std::size_t index) const {
  if (p.is_cuda()) no_cuda();
  State s;
  s.eight_bit = wants_8bit(p, index);
  const auto opts = torch::TensorOptions().device(p.device());
  if (s.eight_bit) {
    // Code 127 of the signed map and code 0 of the unsigned map are zero; absmax 0 makes every
    // dequantised value zero anyway, as bitsandbytes' zero-filled state does.
    s.m = torch::full(p.sizes(), 127, opts.dtype(torch::kUInt8));
    s.v = torch::zeros(p.sizes(), opts.dtype(torch::kUInt8));
    s.absmax_m = torch::zeros({quant_blocks(p.numel())}, opts.dtype(torch::kFloat32));
    s.absmax_v = torch::zeros({quant_blocks(p.numel())}, opts.dtype(torch::kFloat32));
  } else {
    s.m = torch::zeros(p.sizes(), opts.dtype(torch::kFloat32));
    s.v = torch::zeros(p.sizes(), opts.dtype(torch::kFloat32));
  }
  return s;
}

void BlockwiseAdamW::step_cuda(torch::Tensor& /*p*/, State& /*s*/) {
  no_cuda();
}
void BlockwiseAdamW::begin_offload() {
  no_cuda();
}
void BlockwiseAdamW::step_offloaded(const std::vector<std::size_t>& /*which*/) {
  no_cuda();
}
void BlockwiseAdamW::wait_offloaded() const {}

}  // namespace optiscope::optim
