#pragma once
// Dequantization of GGUF tensor data to float, plain C++: F32, F16, BF16 and llama.cpp's block
// formats Q8_0, Q4_0 and Q4_1 (32 elements per block, an f16 scale, for Q4_1 an f16 minimum).
#include <cstdint>
#include <string_view>

#include "checkpoint/gguf_format.h"

namespace optiscope::checkpoint {

/// IEEE half (binary16) bits to float, exactly (subnormals, infinities and NaN included).
float half_to_float(std::uint16_t bits);

/// Writes `numel` floats to `out` from `bytes`, which must hold exactly the bytes the type needs
/// for numel elements (numel a whole number of blocks); CheckpointError otherwise.
void dequantize(GgmlType type, std::string_view bytes, std::int64_t numel, float* out);

}  // namespace optiscope::checkpoint
