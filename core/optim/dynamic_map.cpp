#include "dynamic_map.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace optiscope::optim {
namespace {

// Mirrors bitsandbytes.functional.create_dynamic_map(signed, max_exponent_bits=7, total_bits=8):
// for each exponent level i, the midpoints of linspace(0.1, 1, K+1) scaled by 10^(i-6),
// computed in float32 like torch.linspace does on the machines bitsandbytes runs on.
QuantMap build_map(bool is_signed) {
  constexpr int max_exponent_bits = 7;
  constexpr int total_bits = 8;
  // bitsandbytes uses total_bits - 1 for both maps: the unsigned map spends the sign bit as an
  // extra fraction bit (twice the entries per exponent level).
  const int non_sign_bits = total_bits - 1;
  std::vector<float> data;
  for (int i = 0; i < max_exponent_bits; ++i) {
    const int fraction_items = is_signed ? (1 << (i + non_sign_bits - max_exponent_bits)) + 1
                                         : (1 << (i + non_sign_bits - max_exponent_bits + 1)) + 1;
    // torch.linspace(0.1, 1, n) in float32: start + step * k, with step = (end - start) / (n - 1),
    // the second half counted back from the end so the end point is exact. Its CPU kernel built
    // for AVX2 and AVX512 (what any x86 machine running bitsandbytes selects) evaluates these with
    // a fused multiply-add, one rounding; only the scalar build rounds the product first. The fused
    // form gives exactly the maps of a live bitsandbytes 0.50.2 optimizer (torch 2.11, AVX2 and
    // AVX512 alike: all 512 entries, tests/core/test_dynamic_map.cpp); the two-rounding form
    // differed from them by an ulp or two in 73 entries.
    std::vector<float> boundaries(static_cast<size_t>(fraction_items));
    const float start = 0.1f;
    const float end = 1.0f;
    const float step = (end - start) / static_cast<float>(fraction_items - 1);
    const int halfway = fraction_items / 2;
    for (int k = 0; k < fraction_items; ++k) {
      boundaries[static_cast<size_t>(k)] =
          k < halfway ? std::fma(step, static_cast<float>(k), start)
                      : std::fma(-step, static_cast<float>(fraction_items - 1 - k), end);
    }
    // Python's 10 ** k is a double, rounded to float32 when it multiplies a float32 tensor.
    const auto scale = static_cast<float>(std::pow(10.0, -(max_exponent_bits - 1) + i));
    for (int k = 0; k + 1 < fraction_items; ++k) {
      const float mean = (boundaries[static_cast<size_t>(k)] + boundaries[static_cast<size_t>(k + 1)]) / 2.0f;
      data.push_back(scale * mean);
      if (is_signed) data.push_back(-(scale * mean));
    }
  }
  data.push_back(0.0f);
  data.push_back(1.0f);
  std::sort(data.begin(), data.end());
  QuantMap map{};
  // 127 midpoints * 2 (signed) or 254 (unsigned), plus 0 and 1: 256 entries either way.
  std::copy_n(data.begin(), std::min<size_t>(data.size(), 256), map.begin());
  return map;
}

}  // namespace

const QuantMap& signed_dynamic_map() {
  static const QuantMap map = build_map(true);
  return map;
}

const QuantMap& unsigned_dynamic_map() {
  static const QuantMap map = build_map(false);
  return map;
}

unsigned char quantize_nearest(const QuantMap& map, float x) {
  // Branch-free lower_bound (first entry not below x) over the 256 sorted entries: eight
  // conditional moves instead of mispredicted branches, which made this the optimizer's hot spot.
  std::size_t hi = 0;
  for (std::size_t step = 128; step > 0; step >>= 1) hi += map[hi + step - 1] < x ? step : 0;
  if (hi == 0) return 0;
  if (hi == 256) return 255;
  const size_t lo = hi - 1;
  const float dlo = x - map[lo];
  const float dhi = map[hi] - x;
  return static_cast<unsigned char>(dhi < dlo ? hi : lo);
}

}  // namespace optiscope::optim
