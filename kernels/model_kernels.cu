// The decoder's memory-bound pieces as single passes over memory (see model_kernels.h). Each kernel
// reads its inputs once and writes its outputs once, 16 bytes (8 bf16) per access, with float32
// arithmetic in registers: the unfused LibTorch ops make one pass per operation (RMSNorm in float32
// alone is seven), each writing an intermediate tensor that the next one reads back.
#include "model_kernels.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "bf16_vectors.cuh"
#include "cuda_check.h"

namespace optiscope::kernels {
namespace {

// Threads of one row's block: 512 at most, so that the backward kernel's registers (up to 128 per
// thread under __launch_bounds__) fit one block's share of the register file.
constexpr int kMaxRowThreads = 512;
constexpr int kMaxVecsPerThread = 4;  // so rows up to 512 * 4 * 8 = 16384 elements
constexpr int kElementwiseThreads = 256;
constexpr int kColumnSumWarps = 32;  // warps that split one column group's partial rows

__device__ inline float round_to_bf16(float x) {
  return __bfloat162float(__float2bfloat16_rn(x));
}

/// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the total.
/// `shared` holds 32 floats; it may be reused once this returns.
__device__ float block_sum(float v, float* shared) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const int warp = static_cast<int>(threadIdx.x) / 32;
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  const int warps = static_cast<int>(blockDim.x) / 32;
  v = lane < warps ? shared[lane] : 0.0f;
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  __syncthreads();
  return v;
}

// ---------------------------------------------------------------------------------------------
// RMSNorm. One block per row (forward) or per group of rows (backward); thread t owns the vectors
// t, t + blockDim.x, ... of the row, kept in registers between the reduction and the output (the
// loops over them unroll, so the arrays stay in registers).

template <int kPerThread>
__global__ void __launch_bounds__(kMaxRowThreads)
    rms_norm_forward_kernel(const bf16* __restrict__ x, const bf16* __restrict__ w, bf16* __restrict__ y,
                            float* __restrict__ rstd, int cols, float eps) {
  __shared__ float shared[32];
  const std::int64_t row_offset = static_cast<std::int64_t>(blockIdx.x) * cols;
  const int vecs = cols / kVec;
  float v[kPerThread][kVec];
  float squares = 0.0f;
#pragma unroll
  for (int i = 0; i < kPerThread; ++i) {
    const int vi = static_cast<int>(threadIdx.x) + i * static_cast<int>(blockDim.x);
    if (vi < vecs) {
      load8(x + row_offset + vi * kVec, v[i]);
#pragma unroll
      for (int j = 0; j < kVec; ++j) squares += v[i][j] * v[i][j];
    }
  }
  const float r = rsqrtf(block_sum(squares, shared) / static_cast<float>(cols) + eps);
  if (threadIdx.x == 0) rstd[blockIdx.x] = r;
#pragma unroll
  for (int i = 0; i < kPerThread; ++i) {
    const int vi = static_cast<int>(threadIdx.x) + i * static_cast<int>(blockDim.x);
    if (vi < vecs) {
      float wv[kVec];
      float out[kVec];
      load8(w + vi * kVec, wv);
      // The reference rounds the normalised row to bf16 before the weight multiplies it.
#pragma unroll
      for (int j = 0; j < kVec; ++j) out[j] = wv[j] * round_to_bf16(v[i][j] * r);
      store8(y + row_offset + vi * kVec, out);
    }
  }
}

template <int kPerThread>
__global__ void __launch_bounds__(kMaxRowThreads)
    rms_norm_backward_kernel(const bf16* __restrict__ dy, const bf16* __restrict__ x,
                             const bf16* __restrict__ w, const float* __restrict__ rstd,
                             bf16* __restrict__ dx, float* __restrict__ scratch, std::int64_t rows,
                             int cols) {
  __shared__ float shared[32];
  const int vecs = cols / kVec;
  const float inv_cols = 1.0f / static_cast<float>(cols);
  float wv[kPerThread][kVec];
  float dw[kPerThread][kVec];
#pragma unroll
  for (int i = 0; i < kPerThread; ++i) {
    const int vi = static_cast<int>(threadIdx.x) + i * static_cast<int>(blockDim.x);
    if (vi < vecs) load8(w + vi * kVec, wv[i]);
#pragma unroll
    for (int j = 0; j < kVec; ++j) dw[i][j] = 0.0f;
  }
  for (std::int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const std::int64_t row_offset = row * cols;
    const float r = rstd[row];
    float n[kPerThread][kVec];  // x * rstd
    float g[kPerThread][kVec];  // dy * w
    float dot = 0.0f;
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const int vi = static_cast<int>(threadIdx.x) + i * static_cast<int>(blockDim.x);
      if (vi < vecs) {
        float dyv[kVec];
        load8(x + row_offset + vi * kVec, n[i]);
        load8(dy + row_offset + vi * kVec, dyv);
#pragma unroll
        for (int j = 0; j < kVec; ++j) {
          n[i][j] *= r;
          dw[i][j] += dyv[j] * round_to_bf16(n[i][j]);
          g[i][j] = dyv[j] * wv[i][j];
          dot += g[i][j] * n[i][j];
        }
      }
    }
    const float mean_dot = block_sum(dot, shared) * inv_cols;
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const int vi = static_cast<int>(threadIdx.x) + i * static_cast<int>(blockDim.x);
      if (vi < vecs) {
        float out[kVec];
#pragma unroll
        for (int j = 0; j < kVec; ++j) out[j] = r * (g[i][j] - n[i][j] * mean_dot);
        store8(dx + row_offset + vi * kVec, out);
      }
    }
  }
  float* partial = scratch + static_cast<std::int64_t>(blockIdx.x) * cols;
#pragma unroll
  for (int i = 0; i < kPerThread; ++i) {
    const int vi = static_cast<int>(threadIdx.x) + i * static_cast<int>(blockDim.x);
    if (vi < vecs) {
      auto* out = reinterpret_cast<float4*>(partial + vi * kVec);
      out[0] = make_float4(dw[i][0], dw[i][1], dw[i][2], dw[i][3]);
      out[1] = make_float4(dw[i][4], dw[i][5], dw[i][6], dw[i][7]);
    }
  }
}

// dw[c] = sum over the partial rows, in a fixed order: 32 columns per block, kColumnSumWarps warps
// each summing every kColumnSumWarps-th partial row, then the warps' sums in warp order.
__global__ void column_sum_kernel(const float* __restrict__ scratch, std::int64_t parts, int cols,
                                  bf16* __restrict__ dw) {
  __shared__ float sums[kColumnSumWarps][33];
  const int c = static_cast<int>(blockIdx.x) * 32 + static_cast<int>(threadIdx.x);
  float s = 0.0f;
  if (c < cols) {
    // Unrolled so that several loads are in flight per thread: the sum is latency-bound otherwise.
#pragma unroll 4
    for (std::int64_t p = threadIdx.y; p < parts; p += kColumnSumWarps) s += scratch[p * cols + c];
  }
  sums[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float total = 0.0f;
#pragma unroll
    for (int k = 0; k < kColumnSumWarps; ++k) total += sums[k][threadIdx.x];
    dw[c] = __float2bfloat16_rn(total);
  }
}

// ---------------------------------------------------------------------------------------------
// SwiGLU: element-wise, grid-stride over 8-element vectors; a tail of n % 8 elements is done by
// the first threads of the grid one element each.

__device__ inline float sigmoid(float x) {
  return 1.0f / (1.0f + expf(-x));
}

__device__ inline void swiglu_forward_one(float g, float u, float& out) {
  out = g * sigmoid(g) * u;
}

__device__ inline void swiglu_backward_one(float d, float g, float u, float& dg, float& du) {
  const float s = sigmoid(g);
  du = d * g * s;
  dg = d * u * s * (1.0f + g * (1.0f - s));
}

__global__ void swiglu_forward_kernel(const bf16* __restrict__ gate, const bf16* __restrict__ up,
                                      bf16* __restrict__ out, std::int64_t n) {
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  const std::int64_t vecs = n / kVec;
  for (std::int64_t v = first; v < vecs; v += stride) {
    float g[kVec];
    float u[kVec];
    float o[kVec];
    load8(gate + v * kVec, g);
    load8(up + v * kVec, u);
#pragma unroll
    for (int j = 0; j < kVec; ++j) swiglu_forward_one(g[j], u[j], o[j]);
    store8(out + v * kVec, o);
  }
  const std::int64_t tail = vecs * kVec + first;
  if (tail < n) {
    float o = 0.0f;
    swiglu_forward_one(__bfloat162float(gate[tail]), __bfloat162float(up[tail]), o);
    out[tail] = __float2bfloat16_rn(o);
  }
}

__global__ void swiglu_backward_kernel(const bf16* __restrict__ dout, const bf16* __restrict__ gate,
                                       const bf16* __restrict__ up, bf16* __restrict__ d_gate,
                                       bf16* __restrict__ d_up, std::int64_t n) {
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  const std::int64_t vecs = n / kVec;
  for (std::int64_t v = first; v < vecs; v += stride) {
    float d[kVec];
    float g[kVec];
    float u[kVec];
    float dg[kVec];
    float du[kVec];
    load8(dout + v * kVec, d);
    load8(gate + v * kVec, g);
    load8(up + v * kVec, u);
#pragma unroll
    for (int j = 0; j < kVec; ++j) swiglu_backward_one(d[j], g[j], u[j], dg[j], du[j]);
    store8(d_gate + v * kVec, dg);
    store8(d_up + v * kVec, du);
  }
  const std::int64_t tail = vecs * kVec + first;
  if (tail < n) {
    float dg = 0.0f;
    float du = 0.0f;
    swiglu_backward_one(__bfloat162float(dout[tail]), __bfloat162float(gate[tail]),
                        __bfloat162float(up[tail]), dg, du);
    d_gate[tail] = __float2bfloat16_rn(dg);
    d_up[tail] = __float2bfloat16_rn(du);
  }
}

// ---------------------------------------------------------------------------------------------
// Rotary embedding. One thread per 8 element pairs (x1 = x[i..i+8), x2 = x[half+i..half+i+8)) of
// one head of one token; q's work items come first, then k's.

struct RopeSide {
  const bf16* in;
  bf16* out;
  std::int64_t heads;
  std::int64_t items;  // rows (batch * seq * heads) times vectors per half
};

__global__ void rope_kernel(RopeSide q, RopeSide k, const bf16* __restrict__ cos,
                            const bf16* __restrict__ sin, std::int64_t seq, int head_dim, bool inverse) {
  std::int64_t item = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  // Chosen field by field: a pointer to either parameter would put both in local memory.
  const bool on_k = item >= q.items;
  if (on_k) item -= q.items;
  if (on_k && item >= k.items) return;
  const bf16* in = on_k ? k.in : q.in;
  bf16* out = on_k ? k.out : q.out;
  const std::int64_t heads = on_k ? k.heads : q.heads;
  const int half = head_dim / 2;
  const int per_half = half / kVec;
  const std::int64_t row = item / per_half;
  const int i = static_cast<int>(item % per_half) * kVec;
  const std::int64_t t = (row / heads) % seq;
  const std::int64_t base = row * head_dim + i;
  const std::int64_t table = t * head_dim + i;
  float x1[kVec], x2[kVec], c1[kVec], c2[kVec], s1[kVec], s2[kVec], o1[kVec], o2[kVec];
  load8(in + base, x1);
  load8(in + base + half, x2);
  load8(cos + table, c1);
  load8(cos + table + half, c2);
  load8(sin + table, s1);
  load8(sin + table + half, s2);
  if (!inverse) {
#pragma unroll
    for (int j = 0; j < kVec; ++j) {
      o1[j] = x1[j] * c1[j] - x2[j] * s1[j];
      o2[j] = x2[j] * c2[j] + x1[j] * s2[j];
    }
  } else {
#pragma unroll
    for (int j = 0; j < kVec; ++j) {
      o1[j] = x1[j] * c1[j] + x2[j] * s2[j];
      o2[j] = x2[j] * c2[j] - x1[j] * s1[j];
    }
  }
  store8(out + base, o1);
  store8(out + base + half, o2);
}

// ---------------------------------------------------------------------------------------------
// Launch helpers.

void require_aligned(const void* p, const char* what) {
  if (reinterpret_cast<std::uintptr_t>(p) % 16 != 0)
    throw std::invalid_argument(std::string("model kernels: ") + what + " is not 16-byte aligned");
}

int sm_count() {
  int dev = 0;
  int count = 0;
  OPTISCOPE_CUDA_CHECK(cudaGetDevice(&dev));
  OPTISCOPE_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, dev));
  return count;
}

/// Threads of one row's block (a whole number of warps) and the vectors each of them owns.
struct RowShape {
  int threads = 0;
  int per_thread = 0;
};

RowShape row_shape(std::int64_t cols) {
  if (!rms_norm_supported(cols))
    throw std::invalid_argument("rms_norm: rows of " + std::to_string(cols) +
                                " elements (needs a multiple of 8, at most 16384)");
  const int vecs = static_cast<int>(cols / kVec);
  RowShape s;
  s.threads = (std::min(vecs, kMaxRowThreads) + 31) / 32 * 32;
  s.per_thread = (vecs + s.threads - 1) / s.threads;
  if (s.per_thread == 3) s.per_thread = 4;  // instantiated for 1, 2 and 4
  return s;
}

template <typename Launch>
void dispatch_per_thread(int per_thread, Launch&& launch) {
  switch (per_thread) {
    case 1:
      launch.template operator()<1>();
      break;
    case 2:
      launch.template operator()<2>();
      break;
    default:
      launch.template operator()<kMaxVecsPerThread>();
      break;
  }
}

unsigned elementwise_blocks(std::int64_t vecs) {
  // Grid-stride: enough blocks to fill the device several times over, never past the grid limit.
  const std::int64_t wanted =
      std::max<std::int64_t>(1, (vecs + kElementwiseThreads - 1) / kElementwiseThreads);
  return static_cast<unsigned>(std::min<std::int64_t>(wanted, 1 << 20));
}

}  // namespace

bool rms_norm_supported(std::int64_t cols) {
  return cols > 0 && cols % kVec == 0 &&
         cols <= static_cast<std::int64_t>(kMaxRowThreads) * kMaxVecsPerThread * kVec;
}

void rms_norm_forward(const void* x, const void* w, void* y, float* rstd, std::int64_t rows,
                      std::int64_t cols, float eps, void* stream) {
  if (rows == 0) return;
  const RowShape shape = row_shape(cols);
  require_aligned(x, "x");
  require_aligned(w, "weight");
  require_aligned(y, "y");
  const auto s = static_cast<cudaStream_t>(stream);
  dispatch_per_thread(shape.per_thread, [&]<int kPer>() {
    rms_norm_forward_kernel<kPer><<<static_cast<unsigned>(rows), shape.threads, 0, s>>>(
        static_cast<const bf16*>(x), static_cast<const bf16*>(w), static_cast<bf16*>(y), rstd,
        static_cast<int>(cols), eps);
  });
  OPTISCOPE_CUDA_CHECK(cudaGetLastError());
}

std::int64_t rms_norm_backward_scratch_rows(std::int64_t rows) {
  // Four blocks per multiprocessor keep enough loads in flight; more would only grow the partial
  // sums that column_sum_kernel reads back.
  return std::max<std::int64_t>(1, std::min<std::int64_t>(rows, 4 * static_cast<std::int64_t>(sm_count())));
}

void rms_norm_backward(const void* dy, const void* x, const void* w, const float* rstd, void* dx, void* dw,
                       float* scratch, std::int64_t rows, std::int64_t cols, void* stream) {
  if (rows == 0) return;
  const RowShape shape = row_shape(cols);
  require_aligned(dy, "dy");
  require_aligned(x, "x");
  require_aligned(w, "weight");
  require_aligned(dx, "dx");
  require_aligned(scratch, "scratch");
  const std::int64_t parts = rms_norm_backward_scratch_rows(rows);
  const auto s = static_cast<cudaStream_t>(stream);
  dispatch_per_thread(shape.per_thread, [&]<int kPer>() {
    rms_norm_backward_kernel<kPer><<<static_cast<unsigned>(parts), shape.threads, 0, s>>>(
        static_cast<const bf16*>(dy), static_cast<const bf16*>(x), static_cast<const bf16*>(w), rstd,
        static_cast<bf16*>(dx), scratch, rows, static_cast<int>(cols));
  });
  OPTISCOPE_CUDA_CHECK(cudaGetLastError());
  const dim3 block(32, kColumnSumWarps);
  column_sum_kernel<<<static_cast<unsigned>((cols + 31) / 32), block, 0, s>>>(
      scratch, parts, static_cast<int>(cols), static_cast<bf16*>(dw));
  OPTISCOPE_CUDA_CHECK(cudaGetLastError());
}

void swiglu_forward(const void* gate, const void* up, void* out, std::int64_t n, void* stream) {
  if (n == 0) return;
  require_aligned(gate, "gate");
  require_aligned(up, "up");
  require_aligned(out, "out");
  swiglu_forward_kernel<<<elementwise_blocks(n / kVec), kElementwiseThreads, 0,
                          static_cast<cudaStream_t>(stream)>>>(
      static_cast<const bf16*>(gate), static_cast<const bf16*>(up), static_cast<bf16*>(out), n);
  OPTISCOPE_CUDA_CHECK(cudaGetLastError());
}

void swiglu_backward(const void* dout, const void* gate, const void* up, void* d_gate, void* d_up,
                     std::int64_t n, void* stream) {
  if (n == 0) return;
  require_aligned(dout, "dout");
  require_aligned(gate, "gate");
  require_aligned(up, "up");
  require_aligned(d_gate, "d_gate");
  require_aligned(d_up, "d_up");
  swiglu_backward_kernel<<<elementwise_blocks(n / kVec), kElementwiseThreads, 0,
                           static_cast<cudaStream_t>(stream)>>>(
      static_cast<const bf16*>(dout), static_cast<const bf16*>(gate), static_cast<const bf16*>(up),
      static_cast<bf16*>(d_gate), static_cast<bf16*>(d_up), n);
  OPTISCOPE_CUDA_CHECK(cudaGetLastError());
}

bool rope_supported(std::int64_t head_dim) {
  return head_dim > 0 && head_dim % (2 * kVec) == 0;
}

void rope_apply(const RopeTensor& q, const RopeTensor& k, const void* cos, const void* sin,
                std::int64_t batch, std::int64_t seq, std::int64_t head_dim, bool inverse, void* stream) {
  if (!rope_supported(head_dim))
    throw std::invalid_argument("rope: head_dim " + std::to_string(head_dim) + " is not a multiple of 16");
  for (const void* p :
       {q.in, static_cast<const void*>(q.out), k.in, static_cast<const void*>(k.out), cos, sin})
    require_aligned(p, "a rope operand");
  const std::int64_t per_half = head_dim / 2 / kVec;
  const RopeSide qs{static_cast<const bf16*>(q.in), static_cast<bf16*>(q.out), q.heads,
                    batch * seq * q.heads * per_half};
  const RopeSide ks{static_cast<const bf16*>(k.in), static_cast<bf16*>(k.out), k.heads,
                    batch * seq * k.heads * per_half};
  const std::int64_t items = qs.items + ks.items;
  if (items == 0) return;
  const auto blocks = static_cast<unsigned>((items + kElementwiseThreads - 1) / kElementwiseThreads);
  rope_kernel<<<blocks, kElementwiseThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      qs, ks, static_cast<const bf16*>(cos), static_cast<const bf16*>(sin), seq, static_cast<int>(head_dim),
      inverse);
  OPTISCOPE_CUDA_CHECK(cudaGetLastError());
}

}  // namespace optiscope::kernels
