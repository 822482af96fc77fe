#include "adamw_math.h"

#include <algorithm>
#include <cmath>

#include "dynamic_map.h"

namespace optiscope::optim {
namespace {

constexpr std::uint8_t kSignedZeroCode = 127;  // signed map entry 127 is exactly 0

struct BiasCorrection {
  float c2;         // sqrt(1 - beta2^t)
  float step_size;  // -lr * c2 / (1 - beta1^t)
};

BiasCorrection bias_correction(const AdamHyper& h) {
  const float c1 = 1.0f - std::pow(h.beta1, static_cast<float>(h.step));
  const float c2 = std::sqrt(1.0f - std::pow(h.beta2, static_cast<float>(h.step)));
  return {c2, -h.lr * c2 / c1};
}

// p + step_size * m / (sqrt(v) + c2 * eps), rounded to T; then decoupled decay, rounded again.
template <typename T>
T adam_param_update(T p, float m, float v, const BiasCorrection& bc, const AdamHyper& h) {
  T out = from_float<T>(to_float(p) + bc.step_size * (m / (std::sqrt(v) + bc.c2 * h.eps)));
  if (h.weight_decay > 0.0f) out = from_float<T>(to_float(out) * (1.0f - h.lr * h.weight_decay));
  return out;
}

}  // namespace

template <typename T>
void adamw32_update(T* p, const T* g, float* m, float* v, std::int64_t n, const AdamHyper& h) {
  const BiasCorrection bc = bias_correction(h);
  for (std::int64_t i = 0; i < n; ++i) {
    const float gi = to_float(g[i]);
    m[i] = m[i] * h.beta1 + (1.0f - h.beta1) * gi;
    v[i] = v[i] * h.beta2 + (1.0f - h.beta2) * gi * gi;
    p[i] = adam_param_update(p[i], m[i], v[i], bc, h);
  }
}

template <typename T>
void adamw8bit_blockwise_update(T* p, const T* g, std::uint8_t* code_m, std::uint8_t* code_v, float* absmax_m,
                                float* absmax_v, std::int64_t n, const AdamHyper& h) {
  const QuantMap& qm = signed_dynamic_map();
  const QuantMap& qv = unsigned_dynamic_map();
  const BiasCorrection bc = bias_correction(h);
  float m[kQuantBlock];
  float v[kQuantBlock];
  bool finite[kQuantBlock];
  for (std::int64_t b = 0; b * kQuantBlock < n; ++b) {
    const std::int64_t base = b * kQuantBlock;
    const std::int64_t len = std::min(kQuantBlock, n - base);
    float new_absmax_m = 0.0f;
    float new_absmax_v = 0.0f;
    for (std::int64_t k = 0; k < len; ++k) {
      const std::int64_t i = base + k;
      const float gi = to_float(g[i]);
      finite[k] = std::isfinite(gi);
      if (finite[k]) {
        v[k] = qv[code_v[i]] * absmax_v[b] * h.beta2 + (1.0f - h.beta2) * gi * gi;
        m[k] = qm[code_m[i]] * absmax_m[b] * h.beta1 + (1.0f - h.beta1) * gi;
      } else {
        m[k] = 0.0f;
        v[k] = 0.0f;
      }
      new_absmax_m = std::max(new_absmax_m, std::fabs(m[k]));
      new_absmax_v = std::max(new_absmax_v, std::fabs(v[k]));
    }
    for (std::int64_t k = 0; k < len; ++k) {
      const std::int64_t i = base + k;
      // The parameter sees this step's unquantised moments.
      if (finite[k]) p[i] = adam_param_update(p[i], m[k], v[k], bc, h);
      // An all-zero block (absmax 0) dequantises to 0 whatever the code; bnb feeds 0/0 into its
      // search there, we store the zero codes instead so saved states are deterministic.
      std::uint8_t cm = kSignedZeroCode;
      if (new_absmax_m > 0.0f) {
        cm = quantize_nearest(qm, m[k] / new_absmax_m);
        // Sign fix: a tiny negative m that lands on +0.0 moves to the smallest negative code.
        if (std::signbit(qm[cm]) != std::signbit(m[k])) cm = m[k] > 0.0f ? cm + 1 : cm - 1;
      }
      code_m[i] = cm;
      code_v[i] = new_absmax_v > 0.0f ? quantize_nearest(qv, v[k] / new_absmax_v) : std::uint8_t{0};
    }
    absmax_m[b] = new_absmax_m;
    absmax_v[b] = new_absmax_v;
  }
}

void dequantize_blockwise(const std::uint8_t* codes, const float* absmax, bool is_signed, float* out,
                          std::int64_t n) {
  const QuantMap& map = is_signed ? signed_dynamic_map() : unsigned_dynamic_map();
  for (std::int64_t i = 0; i < n; ++i) out[i] = map[codes[i]] * absmax[i / kQuantBlock];
}

template void adamw32_update<float>(float*, const float*, float*, float*, std::int64_t, const AdamHyper&);
template void adamw32_update<Bf16>(Bf16*, const Bf16*, float*, float*, std::int64_t, const AdamHyper&);
template void adamw8bit_blockwise_update<float>(float*, const float*, std::uint8_t*, std::uint8_t*, float*,
                                                float*, std::int64_t, const AdamHyper&);
template void adamw8bit_blockwise_update<Bf16>(Bf16*, const Bf16*, std::uint8_t*, std::uint8_t*, float*,
                                               float*, std::int64_t, const AdamHyper&);

}  // namespace optiscope::optim
