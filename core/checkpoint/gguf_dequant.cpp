#include "checkpoint/gguf_dequant.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <string>

namespace optiscope::checkpoint {
namespace {

std::uint16_t load_u16(const char* p) {
  std::uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// Q4_0 and Q4_1 put element j of a block in the low nibble of byte j and element j + 16 in its
// high nibble (ggml's dequantize_row_q4_0/q4_1).
template <typename Value>
void dequantize_nibbles(const char* q, float* out, Value value) {
  for (int j = 0; j < 16; ++j) {
    const auto byte = static_cast<unsigned char>(q[j]);
    out[j] = value(byte & 0x0F);
    out[j + 16] = value(byte >> 4);
  }
}

}  // namespace

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1Fu;
  const std::uint32_t mantissa = h & 0x3FFu;
  if (exponent == 0) {
    // Zero or subnormal: mantissa x 2^-24, exact in float.
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign != 0 ? -magnitude : magnitude;
  }
  std::uint32_t bits = 0;
  if (exponent == 0x1F) {
    bits = sign | 0x7F800000u | (mantissa << 13);  // infinity or NaN, payload kept
  } else {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);  // rebias 15 -> 127
  }
  return std::bit_cast<float>(bits);
}

void dequantize(GgmlType type, std::string_view bytes, std::int64_t numel, float* out) {
  const auto block = ggml_block(static_cast<std::uint32_t>(type), "dequantize");
  if (numel < 0 || numel % block.elements != 0 ||
      static_cast<std::uint64_t>(numel / block.elements * block.bytes) != bytes.size())
    throw CheckpointError("dequantize: " + std::to_string(bytes.size()) + " bytes of " +
                          ggml_type_name(type) + " do not hold " + std::to_string(numel) + " elements");
  const char* p = bytes.data();
  const std::int64_t blocks = numel / block.elements;
  switch (type) {
    case GgmlType::f32:
      std::memcpy(out, p, bytes.size());
      return;
    case GgmlType::f16:
      for (std::int64_t i = 0; i < numel; ++i) out[i] = half_to_float(load_u16(p + 2 * i));
      return;
    case GgmlType::bf16:
      for (std::int64_t i = 0; i < numel; ++i)
        out[i] = std::bit_cast<float>(static_cast<std::uint32_t>(load_u16(p + 2 * i)) << 16);
      return;
    case GgmlType::q8_0:
      for (std::int64_t b = 0; b < blocks; ++b, p += block.bytes, out += 32) {
        const float d = half_to_float(load_u16(p));
        for (int j = 0; j < 32; ++j) out[j] = static_cast<float>(static_cast<std::int8_t>(p[2 + j])) * d;
      }
      return;
    case GgmlType::q4_0:
      for (std::int64_t b = 0; b < blocks; ++b, p += block.bytes, out += 32) {
        const float d = half_to_float(load_u16(p));
        dequantize_nibbles(p + 2, out, [d](int q) { return static_cast<float>(q - 8) * d; });
      }
      return;
    case GgmlType::q4_1:
      for (std::int64_t b = 0; b < blocks; ++b, p += block.bytes, out += 32) {
        const float d = half_to_float(load_u16(p));
        const float m = half_to_float(load_u16(p + 2));
        dequantize_nibbles(p + 4, out, [d, m](int q) { return static_cast<float>(q) * d + m; });
      }
      return;
  }
}

}  // namespace optiscope::checkpoint
