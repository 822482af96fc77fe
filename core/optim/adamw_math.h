#pragma once
// Element-wise AdamW updates on raw arrays, free of LibTorch and CUDA: the CPU implementation of
// the 32-bit and 8-bit blockwise variants, and the oracle the CUDA kernels are tested against.
// Semantics: bitsandbytes >= 0.44 (shared/reference/optimizers.md, "Spec for our implementation").
#include <cstdint>

#include "bf16.h"

namespace optiscope::optim {

inline constexpr std::int64_t kQuantBlock = 256;  // elements per absmax block (bnb >= 0.44)

struct AdamHyper {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  int step = 1;  // 1-based, incremented by the caller before the update
};

inline std::int64_t quant_blocks(std::int64_t n) {
  return (n + kQuantBlock - 1) / kQuantBlock;
}

/// 32-bit AdamW: fp32 moments whatever T is; decay applied after the Adam step (bnb order).
template <typename T>
void adamw32_update(T* p, const T* g, float* m, float* v, std::int64_t n, const AdamHyper& h);

/// 8-bit blockwise AdamW: codes into the signed/unsigned dynamic maps, one absmax per 256
/// elements. Non-finite gradient elements wipe their moments and leave the parameter alone.
template <typename T>
void adamw8bit_blockwise_update(T* p, const T* g, std::uint8_t* code_m, std::uint8_t* code_v, float* absmax_m,
                                float* absmax_v, std::int64_t n, const AdamHyper& h);

/// Dequantised moments, for tests and for saving a readable state.
void dequantize_blockwise(const std::uint8_t* codes, const float* absmax, bool is_signed, float* out,
                          std::int64_t n);

extern template void adamw32_update<float>(float*, const float*, float*, float*, std::int64_t,
                                           const AdamHyper&);
extern template void adamw32_update<Bf16>(Bf16*, const Bf16*, float*, float*, std::int64_t, const AdamHyper&);
extern template void adamw8bit_blockwise_update<float>(float*, const float*, std::uint8_t*, std::uint8_t*,
                                                       float*, float*, std::int64_t, const AdamHyper&);
extern template void adamw8bit_blockwise_update<Bf16>(Bf16*, const Bf16*, std::uint8_t*, std::uint8_t*,
                                                      float*, float*, std::int64_t, const AdamHyper&);

}  // namespace optiscope::optim
