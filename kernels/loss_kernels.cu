// See loss_kernels.h. One block per row: an online log-sum-exp over the row (a running maximum and
// the sum of exponentials below it, merged across threads), then, when the gradient is asked for,
// a second read of the row that writes softmax minus the one-hot target, scaled, in place.
#include "loss_kernels.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "bf16_vectors.cuh"
#include "cuda_check.h"

namespace optiscope::kernels {
namespace {

constexpr int kThreads = 512;  // a vocabulary of 128256 is about 31 vectors per thread

/// A part of a row's log-sum-exp: its maximum and the sum of exp(x - max) over its elements. The
/// empty part is (-inf, 0).
struct LogSumExp {
  float max;
  float sum;
};

__device__ inline LogSumExp merge(LogSumExp a, LogSumExp b) {
  if (a.max < b.max) {
    const LogSumExp t = a;
    a = b;
    b = t;
  }
  // a.max >= b.max; an empty b adds nothing (and exp(-inf - -inf) would be NaN).
  if (b.max == -INFINITY) return a;
  return {a.max, a.sum + b.sum * expf(b.max - a.max)};
}

/// Every thread gets the block's merged value. `shared` holds 2 x 32 floats.
__device__ LogSumExp block_merge(LogSumExp v, float* shared) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1)
    v = merge(v, {__shfl_xor_sync(0xffffffffu, v.max, offset), __shfl_xor_sync(0xffffffffu, v.sum, offset)});
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const int warp = static_cast<int>(threadIdx.x) / 32;
  if (lane == 0) {
    shared[warp] = v.max;
    shared[32 + warp] = v.sum;
  }
  __syncthreads();
  const int warps = static_cast<int>(blockDim.x) / 32;
  v = lane < warps ? LogSumExp{shared[lane], shared[32 + lane]} : LogSumExp{-INFINITY, 0.0f};
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1)
    v = merge(v, {__shfl_xor_sync(0xffffffffu, v.max, offset), __shfl_xor_sync(0xffffffffu, v.sum, offset)});
  return v;
}

__global__ void __launch_bounds__(kThreads)
    cross_entropy_rows_kernel(bf16* __restrict__ logits, const std::int64_t* __restrict__ targets,
                              const float* __restrict__ inv_count, float* __restrict__ loss,
                              std::int64_t vocab, bool write_grad) {
  __shared__ float shared[64];
  bf16* row = logits + static_cast<std::int64_t>(blockIdx.x) * vocab;
  const std::int64_t vecs = vocab / kVec;
  LogSumExp part{-INFINITY, 0.0f};
  for (std::int64_t vi = threadIdx.x; vi < vecs; vi += blockDim.x) {
    float x[kVec];
    load8(row + vi * kVec, x);
    float m = -INFINITY;
#pragma unroll
    for (int j = 0; j < kVec; ++j) m = fmaxf(m, x[j]);
    float s = 0.0f;
#pragma unroll
    for (int j = 0; j < kVec; ++j) s += expf(x[j] - m);
    part = merge(part, {m, s});
  }
  const LogSumExp whole = block_merge(part, shared);
  const float lse = whole.max + logf(whole.sum);
  const std::int64_t target = targets[blockIdx.x];
  const bool counts = target >= 0 && target < vocab;
  if (threadIdx.x == 0) loss[blockIdx.x] = counts ? lse - __bfloat162float(row[target]) : 0.0f;
  if (!write_grad) return;
  // Every thread has read its part of the row (the merge above synchronised the block), so the row
  // can be overwritten; the target element is read by thread 0 before that, and the barrier keeps
  // the overwrite of its vector behind the read.
  __syncthreads();
  const float scale = counts ? *inv_count : 0.0f;
  for (std::int64_t vi = threadIdx.x; vi < vecs; vi += blockDim.x) {
    float g[kVec];
    load8(row + vi * kVec, g);
    const std::int64_t first = vi * kVec;
#pragma unroll
    for (int j = 0; j < kVec; ++j) {
      g[j] = expf(g[j] - lse);
      if (first + j == target) g[j] -= 1.0f;
      g[j] *= scale;
    }
    store8(row + vi * kVec, g);
  }
}

}  // namespace

bool cross_entropy_supported(std::int64_t vocab) {
  return vocab > 0 && vocab % kVec == 0;
}

void cross_entropy_rows(void* logits, const std::int64_t* targets, const float* inv_count, float* loss,
                        std::int64_t rows, std::int64_t vocab, bool write_grad, void* stream) {
  if (rows == 0) return;
  if (!cross_entropy_supported(vocab))
    throw std::invalid_argument("cross_entropy_rows: a vocabulary of " + std::to_string(vocab) +
                                " (needs a multiple of 8)");
  if (reinterpret_cast<std::uintptr_t>(logits) % 16 != 0)
    throw std::invalid_argument("cross_entropy_rows: logits are not 16-byte aligned");
  if (rows > 0x7fffffff) throw std::invalid_argument("cross_entropy_rows: too many rows for one grid");
  cross_entropy_rows_kernel<<<static_cast<unsigned>(rows), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      static_cast<bf16*>(logits), targets, inv_count, loss, vocab, write_grad);
  OPTISCOPE_CUDA_CHECK(cudaGetLastError());
}

}  // namespace optiscope::kernels
