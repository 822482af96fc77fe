#pragma once
// CUDA kernels for the decoder's memory-bound pieces (RMSNorm, SwiGLU, rotary embedding), forward
// and backward, with plain C++ launchers: no LibTorch and no CUDA headers here, so core/model can
// call them from an ordinary translation unit (core/model/fused_ops_cuda.cpp wraps them as
// autograd Functions).
//
// All tensors are bf16, row-major and contiguous, on the current device, each pointer 16-byte
// aligned (a LibTorch allocation is); `stream` is a cudaStream_t passed as void*. Arithmetic is in
// float32 with one rounding to bf16 per output: where the unfused LibTorch ops round an
// intermediate to bf16, these kernels round only the result (except where noted, to match what
// the reference returns). Every launcher is asynchronous and throws std::runtime_error with the CUDA
// error string when a launch fails, std::invalid_argument when the shapes are outside what the
// kernels handle (row lengths a multiple of 8, at most 16384).
#include <cstdint>

namespace optiscope::kernels {

/// What rms_norm_forward and rms_norm_backward accept: cols % 8 == 0 and cols <= 16384.
bool rms_norm_supported(std::int64_t cols);

/// y[r, c] = bf16(w[c] * bf16(x[r, c] * rstd[r])), rstd[r] = 1 / sqrt(mean_c(x[r, c]^2) + eps) in
/// float32: transformers' LlamaRMSNorm (normalise in float32, round, then scale by the weight).
/// rstd (rows floats) is kept for the backward pass.
void rms_norm_forward(const void* x, const void* w, void* y, float* rstd, std::int64_t rows,
                      std::int64_t cols, float eps, void* stream);

/// Rows of partial weight gradients rms_norm_backward needs in its float32 scratch (scratch holds
/// this many rows of cols floats): one per block of the backward grid on the current device.
std::int64_t rms_norm_backward_scratch_rows(std::int64_t rows);

/// dx = rstd * (g - n * mean(g * n)) with n = x * rstd and g = dy * w (all float32), and
/// dw[c] = sum_r dy[r, c] * bf16(n[r, c]) accumulated in float32 (per block in `scratch`, then
/// summed in a fixed order: the result does not depend on scheduling).
void rms_norm_backward(const void* dy, const void* x, const void* w, const float* rstd, void* dx, void* dw,
                       float* scratch, std::int64_t rows, std::int64_t cols, void* stream);

/// out = bf16(silu(gate) * up) over n elements.
void swiglu_forward(const void* gate, const void* up, void* out, std::int64_t n, void* stream);

/// d_gate = dout * up * s * (1 + gate * (1 - s)) with s = sigmoid(gate), d_up = dout * silu(gate).
void swiglu_backward(const void* dout, const void* gate, const void* up, void* d_gate, void* d_up,
                     std::int64_t n, void* stream);

/// What rope_apply accepts: head_dim % 16 == 0 (each half a whole number of 8-element vectors).
bool rope_supported(std::int64_t head_dim);

/// One tensor of rotary input: [batch, seq, heads, head_dim] rows.
struct RopeTensor {
  const void* in = nullptr;
  void* out = nullptr;  // may equal `in`: each element pair is read before it is written
  std::int64_t heads = 0;
};

/// Rotary embedding on q and k in one launch, over [batch, seq, heads, head_dim] each, with the
/// [seq, head_dim] cos and sin tables (halves duplicated, as Llama's are). Forward (inverse false):
/// out = x * cos + rotate_half(x) * sin, rotate_half(x) = [-x2, x1]. Backward (inverse true): the
/// transpose, dx = g * cos + rotate_half^T(g * sin), rotate_half^T(y) = [y2, -y1].
void rope_apply(const RopeTensor& q, const RopeTensor& k, const void* cos, const void* sin,
                std::int64_t batch, std::int64_t seq, std::int64_t head_dim, bool inverse, void* stream);

}  // namespace optiscope::kernels
