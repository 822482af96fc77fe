#pragma once
// The bitsandbytes dynamic quantization maps (create_dynamic_map, 8 bits, 7 exponent bits).
// Signed map for the first moment, unsigned for the second; 256 sorted float32 entries each.
#include <array>

namespace optiscope::optim {

using QuantMap = std::array<float, 256>;

/// Signed map: index 127 is 0, index 255 is 1.0, index 0 is -0.99296875.
const QuantMap& signed_dynamic_map();
/// Unsigned map: index 0 is 0, index 255 is 1.0; the sign bit becomes an extra fraction bit.
const QuantMap& unsigned_dynamic_map();

/// Index of the map entry nearest to x (x normalised to [-1, 1]); ties go to the lower entry.
/// Equivalent to the exact nearest-entry search of bitsandbytes' quantize_2D.
unsigned char quantize_nearest(const QuantMap& map, float x);

}  // namespace optiscope::optim
