#pragma once
// Fused CUDA versions of the decoder's memory-bound ops (kernels/model_kernels.cu), as autograd
// Functions: RMSNorm, SwiGLU (silu(gate) * up) and the rotary embedding of q and k, forward and
// backward each one pass over memory; and the loss's cross-entropy over bf16 logits. The model uses one where
// can_*() says so: a CUDA build, bf16 CUDA tensors of a shape the kernels handle, and the fused ops switched
// on; everywhere else (CPU builds, CPU tensors, float32 or autocast runs) it keeps the LibTorch ops, which
// are also the reference the fused ones are tested against (tests/gpu/fused_ops_gpu_test.cpp).
#include <torch/torch.h>

#include <utility>

namespace optiscope::fused {

/// Whether the fused ops are on: yes unless OPTISCOPE_FUSED_OPS=0 is in the environment when they
/// are first asked for, or set_enabled(false) was called (their GPU tests and the engine benchmark
/// switch them to compare).
bool enabled();
void set_enabled(bool on);

/// x [..., hidden], weight [hidden]: transformers' LlamaRMSNorm (normalise in float32, round to
/// bf16, multiply by the weight).
bool can_rms_norm(const torch::Tensor& x, const torch::Tensor& weight);
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps);

/// silu(gate) * up, element-wise, gate and up of one shape.
bool can_swiglu(const torch::Tensor& gate, const torch::Tensor& up);
torch::Tensor swiglu(const torch::Tensor& gate, const torch::Tensor& up);

/// q [batch, seq, heads, head_dim] and k [batch, seq, kv_heads, head_dim] (the projections' rows,
/// before the transpose to heads-first), cos and sin [seq, head_dim]: q * cos + rotate_half(q) * sin
/// and the same for k, in one launch. The results have q's and k's shapes, contiguous.
bool can_rope(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& cos,
              const torch::Tensor& sin);
std::pair<torch::Tensor, torch::Tensor> rope(const torch::Tensor& q, const torch::Tensor& k,
                                             const torch::Tensor& cos, const torch::Tensor& sin);

/// logits [rows, vocab] bf16 (contiguous, written in place), targets [rows] int64 (negative:
/// ignored), inv_count a float32 scalar (1 / rows that count in the batch), loss [rows] float32:
/// kernels::cross_entropy_rows (loss_kernels.h), the cross-entropy step of the fused linear +
/// cross-entropy (chunked_cross_entropy.h). Not an autograd Function: that loss computes its
/// gradients itself.
bool can_cross_entropy_rows(const torch::Tensor& logits, const torch::Tensor& targets);
void cross_entropy_rows(const torch::Tensor& logits, const torch::Tensor& targets,
                        const torch::Tensor& inv_count, const torch::Tensor& loss, bool write_grad);

}  // namespace optiscope::fused
