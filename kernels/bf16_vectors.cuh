#pragma once
// 16-byte accesses of eight bf16 values, widened to float32 in registers: how the model's and the
// loss's kernels (model_kernels.cu, loss_kernels.cu) read and write their rows. Device code only.
#include <cuda_bf16.h>

namespace optiscope::kernels {

using bf16 = __nv_bfloat16;
constexpr int kVec = 8;  // bf16 elements per 16-byte access

__device__ inline void load8(const bf16* p, float (&f)[kVec]) {
  const uint4 raw = *reinterpret_cast<const uint4*>(p);
  const auto* pairs = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
  for (int i = 0; i < kVec / 2; ++i) {
    const float2 t = __bfloat1622float2(pairs[i]);
    f[2 * i] = t.x;
    f[2 * i + 1] = t.y;
  }
}

__device__ inline void store8(bf16* p, const float (&f)[kVec]) {
  uint4 raw;
  auto* pairs = reinterpret_cast<__nv_bfloat162*>(&raw);
#pragma unroll
  for (int i = 0; i < kVec / 2; ++i) pairs[i] = __floats2bfloat162_rn(f[2 * i], f[2 * i + 1]);
  *reinterpret_cast<uint4*>(p) = raw;
}

}  // namespace optiscope::kernels
