#pragma once
// CUDA optimizer kernels with plain C++ launchers: no LibTorch and no CUDA headers here, so the
// engine and the tests can call them from ordinary translation units.
//
// All pointers are device pointers (or managed memory the device can access); `stream` is a
// cudaStream_t passed as void* (nullptr: the legacy default stream). Every launcher is asynchronous
// with respect to the host and throws std::runtime_error, carrying the CUDA error string, when the
// runtime reports an error. n == 0 is a no-op.
//
// Numerics: the kernels reproduce the CPU oracle of core/optim/adamw_math.cpp operation for
// operation (no fused multiply-add contraction, IEEE division and square root, the same bf16
// rounding), so on the same inputs they give the same bits as optim::adamw32_update and
// optim::adamw8bit_blockwise_update.
#include <cstddef>
#include <cstdint>

#include "optim/adamw_math.h"

namespace optiscope::kernels {

/// Element type of the parameters and of the gradients (always the same as each other).
enum class DType { f32, bf16 };

/// Copies optim::signed_dynamic_map() and optim::unsigned_dynamic_map() (256 floats each) to the
/// device, and prepares the current device's quantization tables (see adamw8bit_blockwise). The
/// first call on a device synchronizes `stream` once; call it before capturing a CUDA graph.
void upload_quant_maps(float* qmap_m_dev, float* qmap_v_dev, void* stream);

/// 8-bit blockwise AdamW, bitsandbytes >= 0.44: 256-element blocks, one absmax per block and moment,
/// codes into the signed (m) / unsigned (v) dynamic maps, sign fix for m, non-finite gradient
/// elements wipe their moments and leave the parameter alone, decoupled decay after the step with
/// a second rounding, zero codes (127 for m, 0 for v) for blocks whose moments are all zero.
/// code_* hold n bytes, absmax_* ceil(n / 256) floats; all zero before the first step.
/// qmap_*_dev must hold the maps written by upload_quant_maps: they are used to dequantize, while
/// the nearest-code search uses tables derived from the same maps.
void adamw8bit_blockwise(void* p, const void* g, DType dtype, std::uint8_t* code_m, std::uint8_t* code_v,
                         float* absmax_m, float* absmax_v, const float* qmap_m_dev, const float* qmap_v_dev,
                         std::int64_t n, const optim::AdamHyper& h, void* stream);

/// 32-bit AdamW in one pass: fp32 m and v whatever the parameter dtype, decay after the step.
void adamw32_fused(void* p, const void* g, DType dtype, float* m, float* v, std::int64_t n,
                   const optim::AdamHyper& h, void* stream);

/// Zeroes `bytes` bytes with a kernel rather than cudaMemset, so that managed memory is first
/// touched (and populated) on the device, as bitsandbytes does for its paged state.
void fill_zero(void* ptr, std::size_t bytes, void* stream);

/// Index of the nearest map entry for each already normalised x, ties to the lower entry: the
/// device twin of optim::quantize_nearest (signed map if is_signed, else unsigned).
void quantize_nearest(const float* x, std::uint8_t* codes, std::int64_t n, bool is_signed, void* stream);

/// out[i] = qmap[codes[i]] * absmax[i / 256]: the device twin of optim::dequantize_blockwise.
void dequantize_blockwise(const std::uint8_t* codes, const float* absmax, const float* qmap_dev, float* out,
                          std::int64_t n, void* stream);

/// What check_in_range_math found: how many inputs it compared and how many differed.
struct InRangeMathCheck {
  std::uint64_t sqrt_checked = 0;
  std::uint64_t sqrt_mismatches = 0;
  std::uint64_t div_checked = 0;
  std::uint64_t div_mismatches = 0;
  std::uint64_t norm_div_checked = 0;  // the division's normalisation use (quotients in [2^-24, 1))
  std::uint64_t norm_div_mismatches = 0;
};

/// For tests: the 8-bit kernel's branch-free square root and division against the IEEE intrinsics
/// (__fsqrt_rn, __fdiv_rn) on the current device, over every float of the square root's range (and
/// 0 for the root), `div_samples` hashed pairs spread over the division's range and as many over
/// the part of it that normalises the moments for the code search. Synchronizes `stream`.
InRangeMathCheck check_in_range_math(std::uint64_t div_samples, void* stream);

}  // namespace optiscope::kernels
