// The fused model ops for CUDA builds: autograd Functions around kernels/model_kernels.h, on
// LibTorch's current stream. Each forward keeps only what its backward reads: RMSNorm its input and
// one float per row (the unfused op keeps a float32 copy of the input and the normalised row),
// SwiGLU its two inputs (the unfused op also keeps silu(gate)), the rotary embedding nothing but
// the tables.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/torch.h>

#include "loss_kernels.h"
#include "model/fused_ops.h"
#include "model_kernels.h"

namespace optiscope::fused {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

void* stream_of(const torch::Tensor& t) {
  return static_cast<void*>(at::cuda::getCurrentCUDAStream(t.device().index()).stream());
}

bool bf16_cuda(const torch::Tensor& t) {
  return t.defined() && t.is_cuda() && t.scalar_type() == torch::kBFloat16;
}

bool same_device(const torch::Tensor& a, const torch::Tensor& b) {
  return a.device() == b.device();
}

// Gradients reach backward defined (autograd materialises an unused output's gradient as zeros,
// the Functions' default) but not necessarily contiguous.
torch::Tensor grad_of(const variable_list& grads, std::size_t i) {
  TORCH_CHECK(grads[i].defined(), "fused op: undefined gradient (materialize_grads was turned off)");
  return grads[i].contiguous();
}

class RmsNormFunction : public torch::autograd::Function<RmsNormFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               double eps) {
    const c10::cuda::CUDAGuard guard(x.device());
    const auto xc = x.contiguous();
    const auto w = weight.contiguous();
    const auto cols = xc.size(-1);
    const auto rows = xc.numel() / cols;
    auto y = torch::empty_like(xc);
    auto rstd = torch::empty({rows}, xc.options().dtype(torch::kFloat32));
    kernels::rms_norm_forward(xc.data_ptr(), w.data_ptr(), y.data_ptr(), rstd.data_ptr<float>(), rows, cols,
                              static_cast<float>(eps), stream_of(xc));
    ctx->save_for_backward({xc, w, rstd});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& w = saved[1];
    const auto& rstd = saved[2];
    const c10::cuda::CUDAGuard guard(x.device());
    const auto dy = grad_of(grads, 0);
    const auto cols = x.size(-1);
    const auto rows = x.numel() / cols;
    auto dx = torch::empty_like(x);
    auto dw = torch::empty_like(w);
    auto scratch = torch::empty({kernels::rms_norm_backward_scratch_rows(rows), cols}, rstd.options());
    kernels::rms_norm_backward(dy.data_ptr(), x.data_ptr(), w.data_ptr(), rstd.data_ptr<float>(),
                               dx.data_ptr(), dw.data_ptr(), scratch.data_ptr<float>(), rows, cols,
                               stream_of(x));
    return {dx, dw, torch::Tensor()};
  }
};

class SwiGluFunction : public torch::autograd::Function<SwiGluFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& gate, const torch::Tensor& up) {
    const c10::cuda::CUDAGuard guard(gate.device());
    const auto g = gate.contiguous();
    const auto u = up.contiguous();
    auto out = torch::empty_like(g);
    kernels::swiglu_forward(g.data_ptr(), u.data_ptr(), out.data_ptr(), g.numel(), stream_of(g));
    ctx->save_for_backward({g, u});
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& g = saved[0];
    const auto& u = saved[1];
    const c10::cuda::CUDAGuard guard(g.device());
    const auto dout = grad_of(grads, 0);
    auto d_gate = torch::empty_like(g);
    auto d_up = torch::empty_like(u);
    kernels::swiglu_backward(dout.data_ptr(), g.data_ptr(), u.data_ptr(), d_gate.data_ptr(), d_up.data_ptr(),
                             g.numel(), stream_of(g));
    return {d_gate, d_up};
  }
};

// q and k in one launch each way; cos and sin are tables, without gradients.
void rope_launch(const torch::Tensor& q_in, const torch::Tensor& q_out, const torch::Tensor& k_in,
                 const torch::Tensor& k_out, const torch::Tensor& cos, const torch::Tensor& sin,
                 bool inverse) {
  kernels::rope_apply({q_in.data_ptr(), q_out.data_ptr(), q_in.size(2)},
                      {k_in.data_ptr(), k_out.data_ptr(), k_in.size(2)}, cos.data_ptr(), sin.data_ptr(),
                      q_in.size(0), q_in.size(1), q_in.size(3), inverse, stream_of(q_in));
}

class RopeFunction : public torch::autograd::Function<RopeFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& cos, const torch::Tensor& sin) {
    const c10::cuda::CUDAGuard guard(q.device());
    const auto qc = q.contiguous();
    const auto kc = k.contiguous();
    const auto c = cos.contiguous();
    const auto s = sin.contiguous();
    auto q_out = torch::empty_like(qc);
    auto k_out = torch::empty_like(kc);
    rope_launch(qc, q_out, kc, k_out, c, s, /*inverse=*/false);
    ctx->save_for_backward({c, s});
    return {q_out, k_out};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& c = saved[0];
    const auto& s = saved[1];
    const c10::cuda::CUDAGuard guard(c.device());
    const auto dq = grad_of(grads, 0);
    const auto dk = grad_of(grads, 1);
    auto dq_in = torch::empty_like(dq);
    auto dk_in = torch::empty_like(dk);
    rope_launch(dq, dq_in, dk, dk_in, c, s, /*inverse=*/true);
    return {dq_in, dk_in, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

bool can_rms_norm(const torch::Tensor& x, const torch::Tensor& weight) {
  return enabled() && bf16_cuda(x) && bf16_cuda(weight) && same_device(x, weight) && x.dim() >= 1 &&
         weight.dim() == 1 && weight.size(0) == x.size(-1) && kernels::rms_norm_supported(x.size(-1));
}

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  return RmsNormFunction::apply(x, weight, eps);
}

bool can_swiglu(const torch::Tensor& gate, const torch::Tensor& up) {
  return enabled() && bf16_cuda(gate) && bf16_cuda(up) && same_device(gate, up) && gate.sizes() == up.sizes();
}

torch::Tensor swiglu(const torch::Tensor& gate, const torch::Tensor& up) {
  return SwiGluFunction::apply(gate, up);
}

bool can_rope(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& cos,
              const torch::Tensor& sin) {
  if (!enabled() || !bf16_cuda(q) || !bf16_cuda(k) || !bf16_cuda(cos) || !bf16_cuda(sin)) return false;
  if (!same_device(q, k) || !same_device(q, cos) || !same_device(q, sin)) return false;
  if (q.dim() != 4 || k.dim() != 4 || cos.dim() != 2 || cos.sizes() != sin.sizes()) return false;
  const auto head_dim = q.size(3);
  return k.size(0) == q.size(0) && k.size(1) == q.size(1) && k.size(3) == head_dim &&
         cos.size(0) == q.size(1) && cos.size(1) == head_dim && kernels::rope_supported(head_dim);
}

std::pair<torch::Tensor, torch::Tensor> rope(const torch::Tensor& q, const torch::Tensor& k,
                                             const torch::Tensor& cos, const torch::Tensor& sin) {
  const auto out = RopeFunction::apply(q, k, cos, sin);
  return {out[0], out[1]};
}

bool can_cross_entropy_rows(const torch::Tensor& logits, const torch::Tensor& targets) {
  return enabled() && bf16_cuda(logits) && logits.dim() == 2 && logits.is_contiguous() && targets.is_cuda() &&
         same_device(logits, targets) && targets.scalar_type() == torch::kInt64 && targets.dim() == 1 &&
         targets.size(0) == logits.size(0) && kernels::cross_entropy_supported(logits.size(1));
}

void cross_entropy_rows(const torch::Tensor& logits, const torch::Tensor& targets,
                        const torch::Tensor& inv_count, const torch::Tensor& loss, bool write_grad) {
  TORCH_CHECK(inv_count.is_cuda() && inv_count.scalar_type() == torch::kFloat32 && inv_count.numel() == 1,
              "cross_entropy_rows: inv_count must be one float32 on the device");
  TORCH_CHECK(loss.is_cuda() && loss.scalar_type() == torch::kFloat32 && loss.is_contiguous() &&
                  loss.numel() == logits.size(0),
              "cross_entropy_rows: loss must be rows contiguous float32 on the device");
  const c10::cuda::CUDAGuard guard(logits.device());
  const auto t = targets.contiguous();
  kernels::cross_entropy_rows(logits.data_ptr(), t.data_ptr<std::int64_t>(), inv_count.data_ptr<float>(),
                              loss.data_ptr<float>(), logits.size(0), logits.size(1), write_grad,
                              stream_of(logits));
}

}  // namespace optiscope::fused
