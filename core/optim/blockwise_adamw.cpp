#include "optim/blockwise_adamw.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <stdexcept>

#include "optim/dynamic_map.h"

namespace optiscope::optim {
namespace {

torch::Tensor dequantize(const torch::Tensor& codes, const torch::Tensor& absmax, bool is_signed) {
  const auto c = codes.to(torch::kCPU).contiguous();
  const auto a = absmax.to(torch::kCPU).contiguous();
  auto out = torch::empty(c.sizes(), torch::kFloat32);
  dequantize_blockwise(c.data_ptr<std::uint8_t>(), a.data_ptr<float>(), is_signed, out.data_ptr<float>(), c.numel());
  return out;
}

}  // namespace

BlockwiseAdamW::BlockwiseAdamW(std::vector<torch::Tensor> params, const OptimizerOptions& options, StateBits bits,
                               bool paged)
    : Optimizer(std::move(params)), options_(options), bits_(bits), paged_(paged) {
  for (const auto& p : params_) {
    if (p.scalar_type() != torch::kFloat32 && p.scalar_type() != torch::kBFloat16)
      throw std::invalid_argument("adamw_32bit/adamw_8bit support float32 and bfloat16 parameters");
    state_.push_back(make_state(p));
  }
}

BlockwiseAdamW::~BlockwiseAdamW() = default;

AdamHyper BlockwiseAdamW::hyper(int step) const {
  // bitsandbytes passes hyper-parameters to its kernels as float32.
  return AdamHyper{static_cast<float>(options_.lr), static_cast<float>(options_.beta1),
                   static_cast<float>(options_.beta2), static_cast<float>(options_.eps),
                   static_cast<float>(options_.weight_decay), step};
}

StateBytes BlockwiseAdamW::state_bytes() const {
  StateBytes b;
  for (const auto& s : state_) {
    const std::int64_t moments = tensor_bytes(s.m) + tensor_bytes(s.v);
    (s.paged ? b.managed : b.device) += moments;
    b.device += tensor_bytes(s.absmax_m) + tensor_bytes(s.absmax_v);
  }
  return b;
}

torch::Tensor BlockwiseAdamW::first_moment(std::size_t i) const {
  const auto& s = state_.at(i);
  return s.eight_bit ? dequantize(s.m, s.absmax_m, true) : s.m.to(torch::kCPU);
}

torch::Tensor BlockwiseAdamW::second_moment(std::size_t i) const {
  const auto& s = state_.at(i);
  return s.eight_bit ? dequantize(s.v, s.absmax_v, false) : s.v.to(torch::kCPU);
}

void BlockwiseAdamW::step() {
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i];
    if (!p.grad().defined()) continue;
    auto& s = state_[i];
    ++s.step;
    if (p.is_cuda()) {
      step_cuda(p, s);
    } else {
      step_cpu(p, s);
    }
  }
}

void BlockwiseAdamW::step_cpu(torch::Tensor& p, State& s) {
  if (!p.is_contiguous()) throw std::runtime_error("BlockwiseAdamW needs contiguous parameters");
  const auto g = p.grad().contiguous();
  const AdamHyper h = hyper(s.step);
  const std::int64_t n = p.numel();
  // Chunks of whole quantization blocks run in parallel; each owns its absmax entries.
  constexpr std::int64_t kGrain = 64 * kQuantBlock;
  auto run = [&](auto* pp, const auto* gp) {
    at::parallel_for(0, quant_blocks(n), kGrain / kQuantBlock, [&](std::int64_t b0, std::int64_t b1) {
      const std::int64_t begin = b0 * kQuantBlock;
      const std::int64_t len = std::min(n, b1 * kQuantBlock) - begin;
      if (s.eight_bit) {
        adamw8bit_blockwise_update(pp + begin, gp + begin, s.m.data_ptr<std::uint8_t>() + begin,
                                   s.v.data_ptr<std::uint8_t>() + begin, s.absmax_m.data_ptr<float>() + b0,
                                   s.absmax_v.data_ptr<float>() + b0, len, h);
      } else {
        adamw32_update(pp + begin, gp + begin, s.m.data_ptr<float>() + begin, s.v.data_ptr<float>() + begin, len, h);
      }
    });
  };
  if (p.scalar_type() == torch::kFloat32) {
    run(p.data_ptr<float>(), g.data_ptr<float>());
  } else {
    // bfloat16: c10::BFloat16 and Bf16 share their 16-bit layout.
    run(reinterpret_cast<Bf16*>(p.data_ptr<at::BFloat16>()), reinterpret_cast<const Bf16*>(g.data_ptr<at::BFloat16>()));
  }
}

}  // namespace optiscope::optim
