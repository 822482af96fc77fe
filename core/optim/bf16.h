#pragma once
// bfloat16 stored as its 16 raw bits (the layout of c10::BFloat16 and CUDA's __nv_bfloat16),
// so the optimizer math can be written without LibTorch or CUDA headers.
#include <bit>
#include <cstdint>

namespace optiscope::optim {

struct Bf16 {
  std::uint16_t bits;
};

inline float to_float(float x) {
  return x;
}
inline float to_float(Bf16 x) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(x.bits) << 16);
}

template <typename T>
T from_float(float x);

template <>
inline float from_float<float>(float x) {
  return x;
}

/// Round to nearest even, NaN kept quiet: what c10::BFloat16's constructor does.
template <>
inline Bf16 from_float<Bf16>(float x) {
  const auto u = std::bit_cast<std::uint32_t>(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return Bf16{static_cast<std::uint16_t>((u >> 16) | 0x40u)};
  const std::uint32_t rounding_bias = 0x7fffu + ((u >> 16) & 1u);
  return Bf16{static_cast<std::uint16_t>((u + rounding_bias) >> 16)};
}

}  // namespace optiscope::optim
