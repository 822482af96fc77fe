// CUDA twins of core/optim/adamw_math.cpp. Every floating-point operation is spelled with a
// round-to-nearest intrinsic (__fmul_rn, __fadd_rn, __fdiv_rn, __fsqrt_rn) because nvcc would
// otherwise contract a*b+c into one fma and drift from the CPU oracle, which rounds each step.
#include "optim_kernels.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <array>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "cuda_check.h"
#include "optim/dynamic_map.h"

namespace optiscope::kernels {
namespace {

constexpr int kBlock = static_cast<int>(optim::kQuantBlock);
static_assert(kBlock == 256, "the 8-bit kernel gives each lane 8 elements of a 256-element block");
constexpr std::uint32_t kSignedZeroCode = 127;  // signed map entry 127 is +0.0

// ---------------------------------------------------------------------------------------------
// Nearest-code search.
//
// quantize_nearest() picks, between the neighbours lo < x <= hi, hi exactly when
// fl(hi - x) < fl(x - lo). That predicate is monotone in x, so each gap between map entries j and
// j+1 has one float threshold T_j from which hi wins, and code(x) = #{j : x >= T_j}. The thresholds
// are bucketed by the top 16 bits of |x| (8 exponent bits, 7 mantissa bits) over [2^-24, 1]; the
// maps are sparse enough that a bucket holds at most one threshold (checked when the tables are
// built), and a threshold shares its bucket's top bits, so within a bucket the code is c, plus one
// once the low 16 bits of the search key reach the threshold's L (L = 0x10000: no threshold).
//
// The search key is |x|'s bits; for x < 0 its low 16 bits are flipped, so that the same "reaches
// L" works while |x| grows, and so is bit 28, which moves the negative buckets' top bits from
// [0x3380, 0x3f80] to [0x2380, 0x2f80]: one table indexed by key >> 16 then serves both signs, and
// one three-input logic instruction makes the key. An entry holds ((c - key_hi) << 16) +
// (0x10000 - L), so that entry + key = (c << 16) + (0x10000 - L + low): the carry out of the low
// half is the step, byte 2 is the code. That is one shared-memory load and one add per search
// (instead of eight loads for a binary search), and exactly the quantize_nearest answer (an
// exhaustive test over all floats checks it on the device).
constexpr std::uint32_t kTabFirst = 0x33800000u;        // 2^-24, below every threshold
constexpr std::uint32_t kTabLast = 0x3f800000u;         // 1.0, the largest normalised magnitude
constexpr std::uint32_t kNegKeyFlip = 0x1000ffffu;      // what a negative x flips in its key
constexpr std::uint32_t kPosHiFirst = kTabFirst >> 16;  // 0x3380
constexpr std::uint32_t kHiLast = kTabLast >> 16;       // 0x3f80
constexpr std::uint32_t kNegHiFirst = (kTabFirst ^ kNegKeyFlip) >> 16;  // 0x2380
// Bit 28 is set for every magnitude in range, so flipping it moves the negative keys below the
// positive ones as one contiguous block.
static_assert(kPosHiFirst >= 0x3000u && kHiLast <= 0x3fffu);
static_assert(((kTabLast ^ kNegKeyFlip) >> 16) < kPosHiFirst);
constexpr int kBuckets = static_cast<int>(kHiLast - kPosHiFirst) + 1;
constexpr int kSignedEntries = static_cast<int>(kHiLast - kNegHiFirst) + 1;  // both signs and the gap
constexpr int round_up4(int n) {
  return (n + 3) / 4 * 4;  // whole uint4s, for the shared-memory copy
}
constexpr int kSignedStride = round_up4(kSignedEntries);
constexpr int kUnsignedStride = round_up4(kBuckets);
// Table order in global memory; the 8-bit kernel copies the first two into shared memory.
constexpr int kTabSignedFixed = 0;                              // signed map, sign fix folded in
constexpr int kTabUnsigned = kSignedStride;                     // unsigned map (x < 0 gives code 0)
constexpr int kTabSignedRaw = kSignedStride + kUnsignedStride;  // signed map, plain nearest entry
constexpr int kTabWordsAll = 2 * kSignedStride + kUnsignedStride;
constexpr int kTabWords8bit = kSignedStride + kUnsignedStride;
constexpr std::uint32_t kNoThreshold = 0x10000u;  // larger than any 16-bit low part

__device__ __align__(16) std::uint32_t g_quant_tables[kTabWordsAll];

__host__ __device__ inline std::uint32_t float_bits(float x) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(x);
#else
  return std::bit_cast<std::uint32_t>(x);
#endif
}

/// The search key of a magnitude in [kTabFirst, kTabLast]; neg_mask is all ones for x < 0, else 0.
__host__ __device__ inline std::uint32_t search_key(std::uint32_t mag, std::uint32_t neg_mask) {
  return mag ^ (neg_mask & kNegKeyFlip);
}

/// Entry + key: the code in byte 2. `tab` starts at the bucket whose key has top bits first_hi.
__host__ __device__ inline std::uint32_t table_sum(std::uint32_t key, const std::uint32_t* tab,
                                                   std::uint32_t first_hi) {
  return tab[(key >> 16) - first_hi] + key;
}

__host__ __device__ inline std::uint32_t sum_code(std::uint32_t sum) {
  return (sum >> 16) & 0xffu;
}

/// Any float: the code optim::quantize_nearest returns (NaN gives 0) when the signed table is the
/// plain one, that code with the sign fix applied when it is the folded one.
template <bool kSigned>
__host__ __device__ inline std::uint32_t nearest_code(float x, const std::uint32_t* tab) {
  const std::uint32_t bits = float_bits(x);
  std::uint32_t mag = bits & 0x7fffffffu;
  const bool negative = (bits >> 31) != 0;
  if (mag > 0x7f800000u) return 0;     // NaN: lower_bound finds no entry below it
  if (mag > kTabLast) mag = kTabLast;  // no threshold above 1.0
  if (mag < kTabFirst) mag = kTabFirst;
  if constexpr (kSigned) {
    return sum_code(table_sum(search_key(mag, negative ? 0xffffffffu : 0u), tab, kNegHiFirst));
  } else {
    return negative ? 0u : sum_code(table_sum(mag, tab, kPosHiFirst));
  }
}

std::uint32_t order_key(float f) {
  const auto u = std::bit_cast<std::uint32_t>(f);
  return (u >> 31) != 0 ? ~u : (u | 0x80000000u);
}

float from_order_key(std::uint32_t k) {
  return std::bit_cast<float>((k >> 31) != 0 ? (k & 0x7fffffffu) : ~k);
}

// Smallest float in (lo, hi] for which quantize_nearest prefers hi, by bisection over the ordered
// floats (the tie rule is monotone in x).
float upper_choice_threshold(float lo, float hi) {
  std::uint32_t a = order_key(lo);
  std::uint32_t b = order_key(hi);
  while (b - a > 1) {
    const std::uint32_t mid = a + (b - a) / 2;
    const float x = from_order_key(mid);
    if (hi - x < x - lo) {
      b = mid;
    } else {
      a = mid;
    }
  }
  return from_order_key(b);
}

// Code c at the bucket's start, one more once the key's low bits reach low_limit; key_hi is the
// top 16 bits of the keys of the bucket.
std::uint32_t entry(std::uint32_t code, std::uint32_t low_limit, std::uint32_t key_hi) {
  return ((code - key_hi) << 16) + (kNoThreshold - low_limit);
}

// The thresholds of a strictly increasing map (see "Nearest-code search").
std::array<float, 255> thresholds(const optim::QuantMap& map) {
  for (std::size_t j = 0; j + 1 < map.size(); ++j) {
    if (!(map[j] < map[j + 1])) throw std::logic_error("quantization map is not strictly increasing");
  }
  std::array<float, 255> thr{};
  for (std::size_t j = 0; j < thr.size(); ++j) thr[j] = upper_choice_threshold(map[j], map[j + 1]);
  const float first_bucket_end = std::bit_cast<float>(kTabFirst + 0x10000u);
  for (const float t : thr) {
    if (!(std::fabs(t) >= first_bucket_end))
      throw std::logic_error("quantization threshold below table range");
  }
  return thr;
}

// A bucket's code at its start and the low bits of the threshold inside it, if any.
struct Bucket {
  std::uint32_t code = 0;
  std::uint32_t limit = kNoThreshold;
};

// x in [lo, hi): thresholds below lo all count, one inside counts once x's low bits reach its.
Bucket positive_bucket(const std::array<float, 255>& thr, float lo, float hi) {
  Bucket b;
  int inside = 0;
  for (const float t : thr) {
    if (t < lo) ++b.code;
    if (t >= lo && t < hi) {
      ++inside;
      b.limit = float_bits(t) & 0xffffu;
    }
  }
  if (inside > 1) throw std::logic_error("two quantization thresholds share a table bucket");
  return b;
}

// x in (-hi, -lo]: thresholds at or below -hi all count, one inside (magnitude S) counts while
// |x| <= S, i.e. while the flipped low bits of |x| are >= the flipped low bits of S.
Bucket negative_bucket(const std::array<float, 255>& thr, float lo, float hi) {
  Bucket b;
  int inside = 0;
  for (const float t : thr) {
    if (t <= -hi) ++b.code;
    if (t > -hi && t <= -lo) {
      ++inside;
      b.limit = (float_bits(t) & 0xffffu) ^ 0xffffu;
    }
  }
  if (inside > 1) throw std::logic_error("two quantization thresholds share a table bucket");
  return b;
}

// The signed tables, plain and with the sign fix folded in: a negative x never gets a code above
// sign_fix_max, the largest code of a negative entry.
void fill_signed_tables(const optim::QuantMap& map, std::uint32_t* raw, std::uint32_t* fixed,
                        std::uint32_t sign_fix_max) {
  const std::array<float, 255> thr = thresholds(map);
  for (int k = 0; k < kBuckets; ++k) {
    const std::uint32_t hi_bits = kPosHiFirst + static_cast<std::uint32_t>(k);
    const float lo = std::bit_cast<float>(hi_bits << 16);
    const float hi = std::bit_cast<float>((hi_bits + 1) << 16);
    const Bucket pos = positive_bucket(thr, lo, hi);
    raw[hi_bits - kNegHiFirst] = fixed[hi_bits - kNegHiFirst] = entry(pos.code, pos.limit, hi_bits);
    const Bucket neg = negative_bucket(thr, lo, hi);
    const std::uint32_t key_hi = ((hi_bits << 16) ^ kNegKeyFlip) >> 16;
    raw[key_hi - kNegHiFirst] = entry(neg.code, neg.limit, key_hi);
    fixed[key_hi - kNegHiFirst] = neg.code + (neg.limit == kNoThreshold ? 0u : 1u) > sign_fix_max
                                      ? entry(sign_fix_max, kNoThreshold, key_hi)
                                      : raw[key_hi - kNegHiFirst];
  }
}

void fill_unsigned_table(const optim::QuantMap& map, std::uint32_t* tab) {
  const std::array<float, 255> thr = thresholds(map);
  for (const float t : thr) {
    if (!(t > 0.0f)) throw std::logic_error("unsigned quantization map has a threshold <= 0");
  }
  for (int k = 0; k < kBuckets; ++k) {
    const std::uint32_t hi_bits = kPosHiFirst + static_cast<std::uint32_t>(k);
    const Bucket pos =
        positive_bucket(thr, std::bit_cast<float>(hi_bits << 16), std::bit_cast<float>((hi_bits + 1) << 16));
    tab[k] = entry(pos.code, pos.limit, hi_bits);
  }
}

std::vector<std::uint32_t> build_quant_tables() {
  const optim::QuantMap& qm = optim::signed_dynamic_map();
  // The sign fix is folded into the negative table, which relies on this layout of the map.
  for (std::uint32_t c = 0; c < 256; ++c) {
    if (std::signbit(qm[c]) != (c < kSignedZeroCode))
      throw std::logic_error("signed map: unexpected sign layout");
  }
  std::vector<std::uint32_t> tabs(kTabWordsAll, 0u);
  fill_signed_tables(qm, tabs.data() + kTabSignedRaw, tabs.data() + kTabSignedFixed, kSignedZeroCode - 1);
  fill_unsigned_table(optim::unsigned_dynamic_map(), tabs.data() + kTabUnsigned);
  return tabs;
}

const std::vector<std::uint32_t>& host_quant_tables() {
  static const std::vector<std::uint32_t> tabs = build_quant_tables();
  return tabs;
}

// Copies `words` words of the global tables, from word `first`, into shared memory.
__device__ __forceinline__ void copy_tables(std::uint32_t* dst_words, int first, int words) {
  const auto* src = reinterpret_cast<const uint4*>(g_quant_tables + first);
  auto* dst = reinterpret_cast<uint4*>(dst_words);
  for (int i = static_cast<int>(threadIdx.x); i < words / 4; i += static_cast<int>(blockDim.x))
    dst[i] = src[i];
}

// ---------------------------------------------------------------------------------------------
// Per-device state: the tables live in a __device__ array (one per device), SM counts and
// occupancies are cached so a launch costs no extra driver queries.

struct DeviceInfo {
  bool tables_ready = false;
  int sm_count = 0;
  std::vector<std::pair<const void*, int>> blocks_per_sm;
};

std::mutex g_device_mutex;
std::vector<DeviceInfo> g_devices;

DeviceInfo& device_info_locked() {
  if (g_devices.empty()) {
    int count = 0;
    OPTISCOPE_CUDA_CHECK(cudaGetDeviceCount(&count));
    g_devices.resize(static_cast<std::size_t>(count));
  }
  int dev = 0;
  OPTISCOPE_CUDA_CHECK(cudaGetDevice(&dev));
  DeviceInfo& info = g_devices.at(static_cast<std::size_t>(dev));
  if (info.sm_count == 0) {
    OPTISCOPE_CUDA_CHECK(cudaDeviceGetAttribute(&info.sm_count, cudaDevAttrMultiProcessorCount, dev));
  }
  return info;
}

void ensure_tables(cudaStream_t stream) {
  const std::lock_guard<std::mutex> lock(g_device_mutex);
  DeviceInfo& info = device_info_locked();
  if (info.tables_ready) return;
  const std::vector<std::uint32_t>& tabs = host_quant_tables();
  OPTISCOPE_CUDA_CHECK(cudaMemcpyToSymbolAsync(
      g_quant_tables, tabs.data(), tabs.size() * sizeof(std::uint32_t), 0, cudaMemcpyHostToDevice, stream));
  // Later launches may come on other streams: the tables must have landed before anyone uses them.
  OPTISCOPE_CUDA_CHECK(cudaStreamSynchronize(stream));
  info.tables_ready = true;
}

// Blocks for a grid-stride kernel: enough to fill every SM, never more than there is work for.
template <typename Kernel>
int grid_size(Kernel kernel, int threads, std::int64_t work_blocks, std::size_t dynamic_smem = 0) {
  if (work_blocks <= 0) return 0;
  int per_sm = 0;
  int sms = 0;
  {
    const std::lock_guard<std::mutex> lock(g_device_mutex);
    DeviceInfo& info = device_info_locked();
    sms = info.sm_count;
    const void* key = reinterpret_cast<const void*>(kernel);
    for (const auto& [k, b] : info.blocks_per_sm) {
      if (k == key) per_sm = b;
    }
    if (per_sm == 0) {
      // A kernel with dynamic shared memory may raise its limit first (see launch_adamw8bit).
      if (dynamic_smem > 0) {
        OPTISCOPE_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                  static_cast<int>(dynamic_smem)));
      }
      OPTISCOPE_CUDA_CHECK(
          cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, dynamic_smem));
      if (per_sm < 1) per_sm = 1;
      info.blocks_per_sm.emplace_back(key, per_sm);
    }
  }
  const std::int64_t full = static_cast<std::int64_t>(per_sm) * sms;
  return static_cast<int>(work_blocks < full ? work_blocks : full);
}

void check_launch() {
  OPTISCOPE_CUDA_CHECK(cudaGetLastError());
}

bool aligned(const void* ptr, std::size_t bytes) {
  return reinterpret_cast<std::uintptr_t>(ptr) % bytes == 0;
}

// ---------------------------------------------------------------------------------------------
// Element math, written to round exactly where adamw_math.cpp rounds.

struct AdamConsts {
  float beta1;
  float beta2;
  float one_minus_beta1;
  float one_minus_beta2;
  float step_size;  // -lr * c2 / c1
  float c2eps;      // c2 * eps
  float decay;      // 1 - lr * wd, exactly 1 without weight decay
};

// Host side, in float and in the order adamw_math.cpp uses, so both sides start from the same bits.
AdamConsts make_consts(const optim::AdamHyper& h) {
  const float c1 = 1.0f - std::pow(h.beta1, static_cast<float>(h.step));
  const float c2 = std::sqrt(1.0f - std::pow(h.beta2, static_cast<float>(h.step)));
  AdamConsts k{};
  k.beta1 = h.beta1;
  k.beta2 = h.beta2;
  k.one_minus_beta1 = 1.0f - h.beta1;
  k.one_minus_beta2 = 1.0f - h.beta2;
  k.step_size = -h.lr * c2 / c1;
  k.c2eps = c2 * h.eps;
  k.decay = h.weight_decay > 0.0f ? 1.0f - h.lr * h.weight_decay : 1.0f;
  return k;
}

using Bf16Bits = std::uint16_t;

__device__ __forceinline__ float to_f(float x) {
  return x;
}
__device__ __forceinline__ float to_f(Bf16Bits b) {
  return __uint_as_float(static_cast<std::uint32_t>(b) << 16);
}

template <typename T>
__device__ __forceinline__ T from_f(float x);

template <>
__device__ __forceinline__ float from_f<float>(float x) {
  return x;
}

// Round to nearest even, as optim::from_float<Bf16> does; a NaN stays a NaN (its payload is not
// kept: NaNs made by GPU and CPU arithmetic differ in their bits anyway).
template <>
__device__ __forceinline__ Bf16Bits from_f<Bf16Bits>(float x) {
  return __bfloat16_as_ushort(__float2bfloat16_rn(x));
}

template <typename T>
__device__ __forceinline__ T adam_param_update(T p, float m, float v, const AdamConsts& k) {
  const float denom = __fadd_rn(__fsqrt_rn(v), k.c2eps);
  const T out = from_f<T>(__fadd_rn(to_f(p), __fmul_rn(k.step_size, __fdiv_rn(m, denom))));
  // Without weight decay k.decay is exactly 1, and multiplying by it and rounding again changes no
  // bits, which is what the CPU's "only if wd > 0" gives.
  return from_f<T>(__fmul_rn(to_f(out), k.decay));
}

// Four consecutive elements in one load: 16 bytes of float or 8 bytes of bf16.
template <typename T>
struct Vec4;
template <>
struct Vec4<float> {
  using type = float4;
  __device__ static void unpack(const float4& a, float* out) {
    out[0] = a.x;
    out[1] = a.y;
    out[2] = a.z;
    out[3] = a.w;
  }
  __device__ static float4 pack(const float* in) { return make_float4(in[0], in[1], in[2], in[3]); }
};
template <>
struct Vec4<Bf16Bits> {
  using type = uint2;
  __device__ static void unpack(const uint2& a, Bf16Bits* out) {
    out[0] = static_cast<Bf16Bits>(a.x & 0xffffu);
    out[1] = static_cast<Bf16Bits>(a.x >> 16);
    out[2] = static_cast<Bf16Bits>(a.y & 0xffffu);
    out[3] = static_cast<Bf16Bits>(a.y >> 16);
  }
  __device__ static uint2 pack(const Bf16Bits* in) {
    return make_uint2(static_cast<std::uint32_t>(in[0]) | (static_cast<std::uint32_t>(in[1]) << 16),
                      static_cast<std::uint32_t>(in[2]) | (static_cast<std::uint32_t>(in[3]) << 16));
  }
};

template <typename T>
__device__ __forceinline__ void load4(const T* ptr, T* out) {
  Vec4<T>::unpack(*reinterpret_cast<const typename Vec4<T>::type*>(ptr), out);
}

template <typename T>
__device__ __forceinline__ void store4(T* ptr, const T* in) {
  *reinterpret_cast<typename Vec4<T>::type*>(ptr) = Vec4<T>::pack(in);
}

// ---------------------------------------------------------------------------------------------
// 8-bit blockwise AdamW. One warp per 256-element quantization block, so the two absmax
// reductions are warp-wide instructions; each CUDA block walks many quantization blocks (grid stride)
// to pay once for the maps and search tables in shared memory. Lane l owns elements 8l..8l+7 of
// its block: 16 bytes of bf16 (32 of fp32) and 8 bytes of each code array, so every warp-wide
// access is contiguous and as wide as the hardware loads.
//
// Hopper issues integer and logic instructions at half the rate of float ones, and at 10 bytes
// per parameter (bf16) the kernel has only about a hundred instructions per element to stay at
// the memory floor. The first version spent 134: the IEEE square root and division each came
// with a range check, a branch and a call per element, and every per-element condition became a
// branch that re-derived shared-memory addresses. So the common case runs branch-free: range
// conditions are decided once per block from the block maxima (or by one compare per element),
// the square root and divisions use the instruction sequences ptxas itself emits for the in-range
// case of __fsqrt_rn / __fdiv_rn, and blocks outside those ranges take the IEEE intrinsics.
// Results are bit-identical either way (tests/gpu checks both paths against the CPU oracle).
//
// That left the kernel waiting for its loads with 32 warps per SM. Now each warp's next block
// is in flight while it updates the current one: the copy engine stages it in shared memory
// (see "Staging"), which costs few instructions, unlike per-thread cp.async or a register copy.
// The code search takes one load and one add per element, and the normalising division shares
// its reciprocal across the block. Measured and dropped, each slower: loading the next block
// ahead into registers, cp.async staging, L2 prefetch, streaming cache hints, one producer warp
// staging for the others. bench/results/adamw8bit_kernel_notes.md has the numbers.

// CUDA block shape, per parameter type. The kernel needs 80 registers (fewer spill), the tables
// 43 KiB of shared memory per CUDA block and the staging buffers 3 KiB (bf16) or 5 KiB (fp32) per
// warp. Measured on the H100 (bench/results/adamw8bit_kernel_notes.md): bf16 runs fastest with
// two blocks of 12 warps per SM, fp32 with blocks of 8 warps (two per SM, shared memory bound).
template <typename T>
struct Shape8 {
  static constexpr int kThreads = 384;
  static constexpr int kMinBlocks = 2;
};
template <>
struct Shape8<float> {
  static constexpr int kThreads = 256;
  static constexpr int kMinBlocks = 3;
};
template <typename T>
constexpr int kWarps8 = Shape8<T>::kThreads / 32;
constexpr int kPerLane = kBlock / 32;

// Normalisation |x| / absmax takes the in-range division below, its reciprocal of absmax computed
// once per block, for absmax in this range: every quotient that can change a code (>= 2^-24, the
// first table bucket) then has |x| >= 2^-100 and is exact; smaller ones stay small (they all share
// the first bucket's code). Other blocks take the IEEE division.
constexpr float kNormDivMin = 0x1p-76f;
constexpr float kNormDivMax = 0x1p100f;

// Where the in-range square root and division below are exact. sqrt: v in [2^-101, FLT_MAX], the
// range ptxas tests before its own fast path. Division a / b: a, b and the quotient within
// [2^-100, 2^100] in magnitude, well inside the range where the Newton step and the remainder
// a - b*q are exact (no overflow, no subnormal); tests/gpu compares both against the IEEE
// intrinsics over every float (sqrt) and 2^32 sampled pairs (division).
constexpr float kSqrtFastMin = 0x1p-101f;
constexpr float kDivFastMin = 0x1p-100f;
constexpr float kDivFastMax = 0x1p100f;

__device__ __forceinline__ float rsqrt_approx(float x) {
  float r;
  asm("rsqrt.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
}

__device__ __forceinline__ float rcp_approx(float x) {
  float r;
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
}

// The kernel tests every non-zero m and v against one bound of at least kDivFastMin.
static_assert(kDivFastMin > kSqrtFastMin);

/// RN(sqrt(v)) for v in [kSqrtFastMin, FLT_MAX]; NaN for v = 0.
__device__ __forceinline__ float sqrt_rn_in_range(float v) {
  const float r = rsqrt_approx(v);
  const float s = __fmul_rn(r, v);
  const float h = __fmul_rn(r, 0.5f);
  return __fmaf_rn(__fmaf_rn(-s, s, v), h, s);
}

/// The refined reciprocal the in-range division uses: the part that depends on the divisor alone.
__device__ __forceinline__ float div_recip(float b) {
  const float r = rcp_approx(b);
  return __fmaf_rn(r, __fmaf_rn(-b, r, 1.0f), r);
}

/// div_rn_in_range(a, b) given r = div_recip(b).
__device__ __forceinline__ float div_rn_with_recip(float a, float b, float r) {
  const float q = __fmul_rn(a, r);
  return __fmaf_rn(r, __fmaf_rn(-b, q, a), q);
}

/// RN(a / b) for |a|, b and |a / b| in [kDivFastMin, kDivFastMax]; +0 in magnitude for a = +-0.
__device__ __forceinline__ float div_rn_in_range(float a, float b) {
  return div_rn_with_recip(a, b, div_recip(b));
}

__device__ __forceinline__ std::int64_t lane_offset(int lane, int e) {
  return lane * kPerLane + e;
}

__device__ __forceinline__ bool in_norm_div_range(float mx) {
  return mx >= kNormDivMin && mx <= kNormDivMax;
}

__device__ __forceinline__ std::uint32_t byte_of(std::uint32_t word, int j) {
  return (word >> (8 * j)) & 0xffu;
}

// Packs four codes, each in byte 2 of its word (table_sum's result), into one word.
__device__ __forceinline__ std::uint32_t pack_codes(const std::uint32_t* c) {
  return __byte_perm(__byte_perm(c[0], c[1], 0x0062), __byte_perm(c[2], c[3], 0x0062), 0x5410);
}

template <typename T>
__device__ __forceinline__ T quiet_nan();
template <>
__device__ __forceinline__ float quiet_nan<float>() {
  return __uint_as_float(0x7fc00000u);
}
template <>
__device__ __forceinline__ Bf16Bits quiet_nan<Bf16Bits>() {
  return 0x7fc0u;
}

/// A lane's 8 new parameters as 32-bit words: one float each, or two bf16 per word (element 2w
/// in the low half), the layout of the vector store.
template <typename T>
constexpr int kParamWords = kPerLane* static_cast<int>(sizeof(T)) / 4;

__device__ __forceinline__ void put_param(std::uint32_t* words, int e, float x) {
  words[e] = __float_as_uint(x);
}
// Elements in order: an even one starts its word, the odd one fills the high half.
__device__ __forceinline__ void put_param(std::uint32_t* words, int e, Bf16Bits x) {
  words[e / 2] = (e & 1) == 0 ? x : words[e / 2] | (static_cast<std::uint32_t>(x) << 16);
}

template <typename T>
__device__ __forceinline__ T param_bits(const std::uint32_t* words, int e) {
  if constexpr (std::is_same_v<T, float>) {
    return __uint_as_float(words[e]);
  } else {
    return static_cast<Bf16Bits>(words[e / 2] >> (16 * (e & 1)));
  }
}

/// Two floats rounded to bf16 (round to nearest even) in one instruction, lo in the low half.
__device__ __forceinline__ std::uint32_t pack_bf16x2(float lo, float hi) {
  std::uint32_t out;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(out) : "f"(hi), "f"(lo));
  return out;
}

/// Rounds p + step_size * step to T, then applies the decay factor and rounds again, as
/// adam_param_update does, for all 8 elements; decay[e] is 1 where the parameter must not decay.
/// For bf16 two elements share each conversion (one F2FP instruction rounds a pair).
template <typename T>
__device__ __forceinline__ void finish_params(const T* p, const float* step, const float* decay,
                                              const AdamConsts& k, std::uint32_t* words) {
  if constexpr (std::is_same_v<T, float>) {
#pragma unroll
    for (int e = 0; e < kPerLane; ++e)
      words[e] = __float_as_uint(__fmul_rn(__fadd_rn(p[e], __fmul_rn(k.step_size, step[e])), decay[e]));
  } else {
#pragma unroll
    for (int w = 0; w < kPerLane / 2; ++w) {
      const float a = __fadd_rn(to_f(p[2 * w]), __fmul_rn(k.step_size, step[2 * w]));
      const float b = __fadd_rn(to_f(p[2 * w + 1]), __fmul_rn(k.step_size, step[2 * w + 1]));
      const std::uint32_t stepped = pack_bf16x2(a, b);
      const float da = __fmul_rn(__uint_as_float(stepped << 16), decay[2 * w]);
      const float db = __fmul_rn(__uint_as_float(stepped & 0xffff0000u), decay[2 * w + 1]);
      words[w] = pack_bf16x2(da, db);
    }
  }
}

/// One lane's share of a quantization block: 8 parameters and gradients, their 8+8 codes.
template <typename T>
struct LaneBlock {
  T p[kPerLane];
  T g[kPerLane];
  std::uint32_t cm[2];
  std::uint32_t cv[2];
};

// 8 values of T as 16-byte words: one for bf16, two for fp32.
template <typename T>
constexpr int kVecWords = kPerLane* static_cast<int>(sizeof(T)) / 16;

template <typename T>
__device__ __forceinline__ void unpack_values(const uint4* w, T* out) {
  if constexpr (std::is_same_v<T, float>) {
    for (int h = 0; h < 2; ++h) {
      out[4 * h] = __uint_as_float(w[h].x);
      out[4 * h + 1] = __uint_as_float(w[h].y);
      out[4 * h + 2] = __uint_as_float(w[h].z);
      out[4 * h + 3] = __uint_as_float(w[h].w);
    }
  } else {
    const std::uint32_t words[4] = {w[0].x, w[0].y, w[0].z, w[0].w};
    for (int i = 0; i < 4; ++i) {
      out[2 * i] = static_cast<Bf16Bits>(words[i] & 0xffffu);
      out[2 * i + 1] = static_cast<Bf16Bits>(words[i] >> 16);
    }
  }
}

/// Loads a lane's share element by element, straight from global memory (blocks that are not
/// staged: a partial last block, or arrays not aligned for the copy engine). Elements past n get a
/// NaN gradient, which the update treats like any non-finite gradient (moments 0, parameter
/// untouched), so the math needs no validity mask.
template <typename T>
__device__ __forceinline__ void load_lane(LaneBlock<T>& b, const T* p, const T* g, const std::uint8_t* code_m,
                                          const std::uint8_t* code_v, std::int64_t base, std::int64_t n,
                                          int lane) {
  b.cm[0] = b.cm[1] = b.cv[0] = b.cv[1] = 0;
#pragma unroll
  for (int e = 0; e < kPerLane; ++e) {
    const std::int64_t i = base + lane_offset(lane, e);
    b.p[e] = T{};
    b.g[e] = quiet_nan<T>();
    if (i < n) {
      b.p[e] = p[i];
      b.g[e] = g[i];
      b.cm[e / 4] |= static_cast<std::uint32_t>(code_m[i]) << (8 * (e % 4));
      b.cv[e / 4] |= static_cast<std::uint32_t>(code_v[i]) << (8 * (e % 4));
    }
  }
}

template <typename T, bool kVector>
__device__ __forceinline__ void store_lane(const std::uint32_t* p_words, const std::uint32_t* cm_out,
                                           const std::uint32_t* cv_out, T* p, std::uint8_t* code_m,
                                           std::uint8_t* code_v, std::int64_t base, std::int64_t n,
                                           int lane) {
  if (kVector && base + kBlock <= n) {
    const std::int64_t i = base + lane_offset(lane, 0);
    for (int h = 0; h < kVecWords<T>; ++h) {
      reinterpret_cast<uint4*>(p + i)[h] =
          make_uint4(p_words[4 * h], p_words[4 * h + 1], p_words[4 * h + 2], p_words[4 * h + 3]);
    }
    *reinterpret_cast<uint2*>(code_m + i) = make_uint2(cm_out[0], cm_out[1]);
    *reinterpret_cast<uint2*>(code_v + i) = make_uint2(cv_out[0], cv_out[1]);
    return;
  }
#pragma unroll
  for (int e = 0; e < kPerLane; ++e) {
    const std::int64_t i = base + lane_offset(lane, e);
    if (i >= n) continue;
    p[i] = param_bits<T>(p_words, e);
    code_m[i] = static_cast<std::uint8_t>(byte_of(cm_out[e / 4], e % 4));
    code_v[i] = static_cast<std::uint8_t>(byte_of(cv_out[e / 4], e % 4));
  }
}

template <typename T>
__device__ __forceinline__ bool finite_grad(T g) {
  return fabsf(to_f(g)) <= FLT_MAX;
}

// ---------------------------------------------------------------------------------------------
// Staging. Each warp has two buffers in shared memory, each holding one quantization block as it
// lies in global memory (parameters, gradients, both code arrays). While the warp works on one,
// the copy engine (cp.async.bulk, completion counted in bytes on an mbarrier) fills the other with
// the warp's next block: one lane issues four copies, so the loads of the next block are in flight
// during the whole update of this one. The parameters are read from the buffer only when the
// update needs them, so they take no registers meanwhile.

template <typename T>
struct StagedBlock {
  T p[kBlock];
  T g[kBlock];
  std::uint8_t cm[kBlock];
  std::uint8_t cv[kBlock];
};
static_assert(sizeof(StagedBlock<float>) % 16 == 0 && sizeof(StagedBlock<Bf16Bits>) % 16 == 0);

template <typename T>
constexpr std::size_t kStagingBytes = static_cast<std::size_t>(kWarps8<T>) * 2 * sizeof(StagedBlock<T>);

__device__ __forceinline__ std::uint32_t smem_addr(const void* ptr) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(ptr));
}

__device__ __forceinline__ void mbar_init(std::uint64_t* bar, std::uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_addr(bar)), "r"(count) : "memory");
}

// Makes the initialised barriers visible to the copy engine.
__device__ __forceinline__ void fence_barrier_init() {
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
}

__device__ __forceinline__ void mbar_wait(std::uint64_t* bar, std::uint32_t parity) {
  asm volatile(
      "{\n"
      ".reg .pred done;\n"
      "WAIT_%=:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra WAIT_%=;\n"
      "}\n" ::"r"(smem_addr(bar)),
      "r"(parity)
      : "memory");
}

/// Starts the copy of quantization block qb into `buf`, counted on `bar` (one lane calls it): the byte count
/// the barrier must see, then one bulk copy per array. One asm statement, so that ptxas moves the
/// operands into uniform registers once for all four copies.
template <typename T>
__device__ __forceinline__ void stage_block(StagedBlock<T>* buf, std::uint64_t* bar, const T* p, const T* g,
                                            const std::uint8_t* code_m, const std::uint8_t* code_v,
                                            std::int64_t qb) {
  // No proxy fence before overwriting the buffer: the warp only ever reads it (see the caller). A
  // fence here (MEMBAR.CTA) would also wait for this lane's global stores of the previous block.
  const std::int64_t base = qb * kBlock;
  using B = StagedBlock<T>;
  asm volatile(
      "mbarrier.arrive.expect_tx.shared::cta.b64 _, [%5], %6;\n"
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %7, [%5];\n"
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0+%8], [%2], %7, [%5];\n"
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0+%9], [%3], %11, [%5];\n"
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0+%10], [%4], %11, [%5];\n" ::"r"(
          smem_addr(buf)),
      "l"(p + base), "l"(g + base), "l"(code_m + base), "l"(code_v + base), "r"(smem_addr(bar)),
      "n"(sizeof(B)), "n"(kBlock * sizeof(T)), "n"(offsetof(B, g)), "n"(offsetof(B, cm)),
      "n"(offsetof(B, cv)), "n"(kBlock)
      : "memory");
}

/// A lane's 8 values of one staged array (parameters or gradients), unpacked.
template <typename T>
__device__ __forceinline__ void read_lane_values(const T* staged, int lane, T* out) {
  uint4 w[kVecWords<T>];
  for (int h = 0; h < kVecWords<T>; ++h)
    w[h] = reinterpret_cast<const uint4*>(staged)[lane * kVecWords<T> + h];
  unpack_values(w, out);
}

/// A lane's gradients and codes from a staged block; its parameters come later (read_lane_values
/// on buf.p), when the update needs them, so they take no registers meanwhile.
template <typename T>
__device__ __forceinline__ void read_staged(LaneBlock<T>& b, const StagedBlock<T>& buf, int lane) {
  read_lane_values(buf.g, lane, b.g);
  const uint2 cm = reinterpret_cast<const uint2*>(buf.cm)[lane];
  const uint2 cv = reinterpret_cast<const uint2*>(buf.cv)[lane];
  b.cm[0] = cm.x;
  b.cm[1] = cm.y;
  b.cv[0] = cv.x;
  b.cv[1] = cv.y;
}

/// (bits << 1) - 2: orders non-negative magnitudes (the sign bit drops out) and sends +-0 to the
/// top, so one unsigned minimum finds the smallest non-zero magnitude.
__device__ __forceinline__ std::uint32_t nonzero_order(float x) {
  return (__float_as_uint(x) << 1) - 2u;
}

// kVector: every block but a partial last one is staged (16-byte aligned arrays); otherwise each
// lane loads its elements one by one.
template <typename T, bool kVector>
__global__ void __launch_bounds__(Shape8<T>::kThreads, Shape8<T>::kMinBlocks)
    adamw8bit_kernel(T* __restrict__ p, const T* __restrict__ g, std::uint8_t* __restrict__ code_m,
                     std::uint8_t* __restrict__ code_v, float* __restrict__ absmax_m,
                     float* __restrict__ absmax_v, const float* __restrict__ qmap_m,
                     const float* __restrict__ qmap_v, std::int64_t n, AdamConsts k) {
  __shared__ float s_qm[256];
  __shared__ float s_qv[256];
  __shared__ __align__(16) std::uint32_t s_tabs[kTabWords8bit];
  __shared__ std::uint64_t s_filled[kWarps8<T>][2];           // per warp and buffer: the copies have landed
  extern __shared__ __align__(16) unsigned char s_staging[];  // kStagingBytes<T> when kVector
  // Programmatic dependent launch: this block may start while the previous kernel in the stream
  // drains. The search tables are written once per device, before any update, with a stream
  // synchronization (ensure_tables), so they are copied before waiting; the maps, p, g and the
  // state only after the previous kernel has finished. Then the next update may start its own
  // prologue as our blocks exit.
  copy_tables(s_tabs, 0, kTabWords8bit);
  asm volatile("griddepcontrol.wait;" ::: "memory");
  for (int i = static_cast<int>(threadIdx.x); i < 256; i += Shape8<T>::kThreads) {
    s_qm[i] = qmap_m[i];
    s_qv[i] = qmap_v[i];
  }
  if (kVector && threadIdx.x == 0) {
    for (int w = 0; w < kWarps8<T>; ++w) {
      mbar_init(&s_filled[w][0], 1);
      mbar_init(&s_filled[w][1], 1);
    }
    fence_barrier_init();
  }
  __syncthreads();
  asm volatile("griddepcontrol.launch_dependents;");
  const std::uint32_t* tab_m = s_tabs + kTabSignedFixed;
  const std::uint32_t* tab_v = s_tabs + kTabUnsigned;
  // Launch-uniform: the Adam division's denominator is at least c2*eps, and a finite step size
  // lets a non-finite gradient's zero step leave its parameter exactly as it was.
  const bool consts_in_range =
      k.c2eps >= kDivFastMin && k.c2eps <= kDivFastMax && fabsf(k.step_size) <= FLT_MAX;

  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int warp = static_cast<int>(threadIdx.x) >> 5;
  const std::int64_t nqb = (n + kBlock - 1) / kBlock;
  const std::int64_t full_qb = n / kBlock;  // blocks that can be staged
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kWarps8<T>;
  StagedBlock<T>* bufs = reinterpret_cast<StagedBlock<T>*>(s_staging) + 2 * warp;
  std::int64_t qb = static_cast<std::int64_t>(blockIdx.x) * kWarps8<T> + warp;
  if (kVector && qb < full_qb && lane == 0)
    stage_block(&bufs[0], &s_filled[warp][0], p, g, code_m, code_v, qb);
  float am_next = qb < nqb ? absmax_m[qb] : 0.0f;  // the next block's absmax values, loaded ahead
  float av_next = qb < nqb ? absmax_v[qb] : 0.0f;
  for (std::uint32_t it = 0; qb < nqb; qb += stride, ++it) {
    const std::int64_t base = qb * kBlock;
    const std::int64_t next = qb + stride;
    const float am_old = am_next;
    const float av_old = av_next;
    if (next < nqb) {
      am_next = absmax_m[next];
      av_next = absmax_v[next];
    }
    LaneBlock<T> in;
    // Only a partial last block is not staged, so `it` counts the uses of the buffers.
    const bool staged = kVector && qb < full_qb;
    const StagedBlock<T>& buf = bufs[it & 1];
    if (staged) {
      if (next < full_qb) {
        // The other buffer was read in the previous iteration by every lane of the warp; their
        // reads have returned (the values were used), so the copy engine may overwrite it.
        __syncwarp();
        if (lane == 0)
          stage_block(&bufs[(it + 1) & 1], &s_filled[warp][(it + 1) & 1], p, g, code_m, code_v, next);
      }
      mbar_wait(&s_filled[warp][it & 1], (it >> 1) & 1);
      read_staged(in, buf, lane);
    } else {
      load_lane(in, p, g, code_m, code_v, base, n, lane);
    }

    // Moments. A non-finite gradient must give zero moments (and, below, no decay and a zero
    // step, which leave the parameter exactly as it was); warps without one, the usual case, skip
    // the selections.
    float m[kPerLane];
    float v[kPerLane];
    float mx_m = 0.0f;
    float mx_v = 0.0f;
    std::uint32_t smallest = 0xffffffffu;  // nonzero_order of the smallest non-zero m or v
    bool all_finite = true;
#pragma unroll
    for (int e = 0; e < kPerLane; ++e) {
      const float gi = to_f(in.g[e]);
      v[e] = __fadd_rn(__fmul_rn(__fmul_rn(s_qv[byte_of(in.cv[e / 4], e % 4)], av_old), k.beta2),
                       __fmul_rn(__fmul_rn(k.one_minus_beta2, gi), gi));
      m[e] = __fadd_rn(__fmul_rn(__fmul_rn(s_qm[byte_of(in.cm[e / 4], e % 4)], am_old), k.beta1),
                       __fmul_rn(k.one_minus_beta1, gi));
      all_finite &= finite_grad(in.g[e]);
      // fmaxf drops a NaN operand exactly as std::max(acc, NaN) does on the CPU.
      mx_m = fmaxf(mx_m, fabsf(m[e]));
      mx_v = fmaxf(mx_v, fabsf(v[e]));
      smallest = min(smallest, min(nonzero_order(m[e]), nonzero_order(v[e])));
    }
    const bool warp_finite = __all_sync(0xffffffffu, all_finite);
    if (!warp_finite) {
      mx_m = 0.0f;
      mx_v = 0.0f;
      smallest = 0xffffffffu;
#pragma unroll
      for (int e = 0; e < kPerLane; ++e) {
        const bool finite = finite_grad(in.g[e]);
        m[e] = finite ? m[e] : 0.0f;
        v[e] = finite ? v[e] : 0.0f;
        mx_m = fmaxf(mx_m, fabsf(m[e]));
        mx_v = fmaxf(mx_v, fabsf(v[e]));
        smallest = min(smallest, min(nonzero_order(m[e]), nonzero_order(v[e])));
      }
    }
    // A lane's maxima are non-negative and never NaN (fmaxf dropped any), so their bit patterns
    // order as unsigned integers: one warp-wide integer max instruction each instead of five
    // shuffle rounds.
    mx_m = __uint_as_float(__reduce_max_sync(0xffffffffu, __float_as_uint(mx_m)));
    mx_v = __uint_as_float(__reduce_max_sync(0xffffffffu, __float_as_uint(mx_v)));
    // With finite old absmax values every m and v is finite or the new absmax is infinite.
    const bool olds_finite = fabsf(am_old) <= FLT_MAX && fabsf(av_old) <= FLT_MAX;

    // The parameter sees this step's unquantised moments. The in-range path needs finite block
    // maxima with mx_m / c2eps <= 2^100 and every non-zero m and v at least
    // 2^-100 * max(1, largest denominator) >= 2^-100 > 2^-101, so every quotient is >= 2^-100.
    std::uint32_t p_words[kParamWords<T>];
    if (staged) read_lane_values(buf.p, lane, in.p);
    // Only a bound: RN(sqrt) is monotone, so the in-range root of max(mx_v, its lower end) is at
    // least every element's root (NaN for an infinite mx_v, which fails the range test below).
    const float denom_max = __fadd_rn(sqrt_rn_in_range(fmaxf(mx_v, kSqrtFastMin)), k.c2eps);
    const float nonzero_min = kDivFastMin * fmaxf(1.0f, denom_max);
    const bool block_in_range = consts_in_range && olds_finite && mx_v <= FLT_MAX && mx_m <= FLT_MAX &&
                                mx_m <= __fmul_rn(k.c2eps, kDivFastMax) && denom_max <= kDivFastMax;
    if (__all_sync(0xffffffffu, smallest >= nonzero_order(nonzero_min)) && block_in_range) {
      float step[kPerLane];
      float decay[kPerLane];
#pragma unroll
      for (int e = 0; e < kPerLane; ++e) {
        // v = 0 gives rsqrt = inf and a NaN root, which fmaxf turns into sqrt(0) = 0.
        const float root = fmaxf(sqrt_rn_in_range(v[e]), 0.0f);
        // m = +-0 (also every non-finite gradient's) gives +0 in magnitude; the quotient takes
        // m's sign, as IEEE division by a positive denominator does.
        step[e] = copysignf(div_rn_in_range(m[e], __fadd_rn(root, k.c2eps)), m[e]);
      }
      // k.decay is exactly 1 without weight decay; multiplying by 1 changes no bits.
      if (warp_finite) {
#pragma unroll
        for (int e = 0; e < kPerLane; ++e) decay[e] = k.decay;
        finish_params(in.p, step, decay, k, p_words);
      } else {
#pragma unroll
        for (int e = 0; e < kPerLane; ++e) decay[e] = finite_grad(in.g[e]) ? k.decay : 1.0f;
        finish_params(in.p, step, decay, k, p_words);
      }
    } else {
#pragma unroll
      for (int e = 0; e < kPerLane; ++e)
        put_param(p_words, e, finite_grad(in.g[e]) ? adam_param_update(in.p[e], m[e], v[e], k) : in.p[e]);
    }

    // Codes, each in byte 2 of its word (see "Nearest-code search").
    std::uint32_t cm[kPerLane];
    std::uint32_t cv[kPerLane];
    // Warp-uniform: with finite old absmax values every m and v is finite, so no NaN reaches the
    // search and |m / absmax| <= 1; a zero absmax (all-zero block) goes the general way.
    if (olds_finite && in_norm_div_range(mx_m) && in_norm_div_range(mx_v)) {
      const float rm = div_recip(mx_m);
      const float rv = div_recip(mx_v);
#pragma unroll
      for (int e = 0; e < kPerLane; ++e) {
        // The sign comes from m itself (a -0.0 must still take the sign fix); |m| feeds the
        // division so the quotient's bits are its magnitude.
        const std::uint32_t neg_mask =
            static_cast<std::uint32_t>(static_cast<std::int32_t>(__float_as_uint(m[e])) >> 31);
        const float qm = div_rn_with_recip(fabsf(m[e]), mx_m, rm);
        const float qv = div_rn_with_recip(fabsf(v[e]), mx_v, rv);
        cm[e] = table_sum(search_key(max(__float_as_uint(qm), kTabFirst), neg_mask), tab_m, kNegHiFirst);
        cv[e] = table_sum(max(__float_as_uint(qv), kTabFirst), tab_v, kPosHiFirst);
      }
    } else {
#pragma unroll
      for (int e = 0; e < kPerLane; ++e) {
        std::uint32_t code = kSignedZeroCode;
        if (mx_m > 0.0f) {
          code = nearest_code<true>(__fdiv_rn(m[e], mx_m), tab_m);
          // Sign fix, for what the folded table cannot see: a NaN quotient (code 0) of a positive m.
          const bool code_negative = code < kSignedZeroCode;
          if (code_negative != ((__float_as_uint(m[e]) >> 31) != 0)) {
            code = (m[e] > 0.0f ? code + 1u : code - 1u) & 0xffu;
          }
        }
        cm[e] = code << 16;
        cv[e] = (mx_v > 0.0f ? nearest_code<false>(__fdiv_rn(v[e], mx_v), tab_v) : 0u) << 16;
      }
    }
    const std::uint32_t cm_out[2] = {pack_codes(cm), pack_codes(cm + 4)};
    const std::uint32_t cv_out[2] = {pack_codes(cv), pack_codes(cv + 4)};
    store_lane<T, kVector>(p_words, cm_out, cv_out, p, code_m, code_v, base, n, lane);
    if (lane == 0) {
      absmax_m[qb] = mx_m;
      absmax_v[qb] = mx_v;
    }
  }
}

template <typename T>
void launch_adamw8bit(T* p, const T* g, std::uint8_t* code_m, std::uint8_t* code_v, float* absmax_m,
                      float* absmax_v, const float* qmap_m, const float* qmap_v, std::int64_t n,
                      const AdamConsts& k, cudaStream_t stream) {
  const std::int64_t nqb = (n + kBlock - 1) / kBlock;
  // Staging copies whole blocks with 16-byte aligned addresses.
  const bool vec = aligned(p, 16) && aligned(g, 16) && aligned(code_m, 16) && aligned(code_v, 16);
  const std::int64_t work = (nqb + kWarps8<T> - 1) / kWarps8<T>;
  const auto kernel = vec ? adamw8bit_kernel<T, true> : adamw8bit_kernel<T, false>;
  const std::size_t staging = vec ? kStagingBytes<T> : 0;
  // Launched as a programmatic dependent of the previous kernel in the stream: an optimizer step is
  // one launch per tensor, and each block's prologue (41 KiB of tables into shared memory) then
  // overlaps the previous launch's last blocks instead of following them (see the kernel).
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(static_cast<unsigned>(grid_size(kernel, Shape8<T>::kThreads, work, staging)));
  cfg.blockDim = dim3(Shape8<T>::kThreads);
  cfg.dynamicSmemBytes = staging;
  cfg.stream = stream;
  cfg.attrs = &attr;
  cfg.numAttrs = 1;
  OPTISCOPE_CUDA_CHECK(
      cudaLaunchKernelEx(&cfg, kernel, p, g, code_m, code_v, absmax_m, absmax_v, qmap_m, qmap_v, n, k));
}

// ---------------------------------------------------------------------------------------------
// 32-bit AdamW: element-wise, four elements per vector access, two groups in flight per thread.

constexpr int kThreads32 = 256;

template <typename T>
__device__ __forceinline__ void adam32_element(T& p, float g, float& m, float& v, const AdamConsts& k) {
  m = __fadd_rn(__fmul_rn(m, k.beta1), __fmul_rn(k.one_minus_beta1, g));
  v = __fadd_rn(__fmul_rn(v, k.beta2), __fmul_rn(__fmul_rn(k.one_minus_beta2, g), g));
  p = adam_param_update(p, m, v, k);
}

template <typename T, bool kVector>
__global__ void __launch_bounds__(kThreads32)
    adamw32_kernel(T* __restrict__ p, const T* __restrict__ g, float* __restrict__ m, float* __restrict__ v,
                   std::int64_t n, AdamConsts k) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  const std::int64_t tid = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  std::int64_t scalar_from = 0;
  if constexpr (kVector) {
    const std::int64_t groups = n / 4;
    for (std::int64_t q = tid; q < groups; q += 2 * stride) {
      const bool second = q + stride < groups;
      T pr[8];
      T gr[8];
      float mr[8];
      float vr[8];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        if (h == 1 && !second) break;
        const std::int64_t i = (q + h * stride) * 4;
        load4(p + i, pr + 4 * h);
        load4(g + i, gr + 4 * h);
        Vec4<float>::unpack(*reinterpret_cast<const float4*>(m + i), mr + 4 * h);
        Vec4<float>::unpack(*reinterpret_cast<const float4*>(v + i), vr + 4 * h);
      }
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        if (h == 1 && !second) break;
#pragma unroll
        for (int e = 4 * h; e < 4 * h + 4; ++e) adam32_element(pr[e], to_f(gr[e]), mr[e], vr[e], k);
        const std::int64_t i = (q + h * stride) * 4;
        store4(p + i, pr + 4 * h);
        *reinterpret_cast<float4*>(m + i) = Vec4<float>::pack(mr + 4 * h);
        *reinterpret_cast<float4*>(v + i) = Vec4<float>::pack(vr + 4 * h);
      }
    }
    scalar_from = groups * 4;
  }
  for (std::int64_t i = scalar_from + tid; i < n; i += stride) {
    T pi = p[i];
    float mi = m[i];
    float vi = v[i];
    adam32_element(pi, to_f(g[i]), mi, vi, k);
    p[i] = pi;
    m[i] = mi;
    v[i] = vi;
  }
}

template <typename T>
void launch_adamw32(T* p, const T* g, float* m, float* v, std::int64_t n, const AdamConsts& k,
                    cudaStream_t stream) {
  const bool vec = aligned(p, 4 * sizeof(T)) && aligned(g, 4 * sizeof(T)) && aligned(m, 16) && aligned(v, 16);
  if (vec) {
    const std::int64_t work = (n / 4 + 2 * kThreads32 - 1) / (2 * kThreads32) + 1;
    const int grid = grid_size(adamw32_kernel<T, true>, kThreads32, work);
    adamw32_kernel<T, true><<<grid, kThreads32, 0, stream>>>(p, g, m, v, n, k);
  } else {
    const int grid = grid_size(adamw32_kernel<T, false>, kThreads32, (n + kThreads32 - 1) / kThreads32);
    adamw32_kernel<T, false><<<grid, kThreads32, 0, stream>>>(p, g, m, v, n, k);
  }
  check_launch();
}

// ---------------------------------------------------------------------------------------------
// Small kernels.

constexpr int kThreadsSmall = 256;

__global__ void fill_zero_kernel(unsigned char* __restrict__ ptr, std::size_t head, std::size_t body16,
                                 std::size_t tail) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  const std::size_t tid = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (tid < head) ptr[tid] = 0;
  auto* body = reinterpret_cast<uint4*>(ptr + head);
  for (std::size_t i = tid; i < body16; i += stride) body[i] = make_uint4(0, 0, 0, 0);
  if (tid < tail) ptr[head + body16 * 16 + tid] = 0;
}

template <bool kSigned>
__global__ void __launch_bounds__(kThreadsSmall)
    quantize_kernel(const float* __restrict__ x, std::uint8_t* __restrict__ codes, std::int64_t n) {
  __shared__ __align__(16) std::uint32_t s_tabs[kSignedStride];
  if constexpr (kSigned) {
    copy_tables(s_tabs, kTabSignedRaw, kSignedStride);
  } else {
    copy_tables(s_tabs, kTabUnsigned, kUnsignedStride);
  }
  __syncthreads();
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    codes[i] = static_cast<std::uint8_t>(nearest_code<kSigned>(x[i], s_tabs));
  }
}

__global__ void dequantize_kernel(const std::uint8_t* __restrict__ codes, const float* __restrict__ absmax,
                                  const float* __restrict__ qmap, float* __restrict__ out, std::int64_t n) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    out[i] = __fmul_rn(qmap[codes[i]], absmax[i / kBlock]);
  }
}

// check_in_range_math's kernels. Square root: every float of its range (and 0, through the
// kernel's fmaxf). Division: b and a quotient q log-uniform over the exponent ranges asked for
// (the whole in-range domain, then the normalisation's part), a = RN(b * q) with a random sign, and
// both mantissas hashed (so all-ones and power-of-two mantissas come up too); pairs outside the
// range are skipped.
// A branch-free in-range function and the IEEE intrinsic it stands for.
struct SqrtInRange {
  static constexpr bool kAlsoZero = true;  // the kernel maps its NaN for 0 to sqrt(0) with fmaxf
  __device__ static float fast(float x) { return sqrt_rn_in_range(x); }
  __device__ static float ieee(float x) { return __fsqrt_rn(x); }
};

// Every float with bits in [first, last]: the in-range function against the intrinsic.
template <typename Op>
__global__ void check_every_float_kernel(std::uint32_t first, std::uint32_t last, unsigned long long* bad) {
  const std::uint32_t stride = gridDim.x * blockDim.x;
  unsigned long long local = 0;
  for (std::uint32_t bits = first + blockIdx.x * blockDim.x + threadIdx.x; bits <= last && bits >= first;
       bits += stride) {
    const float x = __uint_as_float(bits);
    local += __float_as_uint(Op::fast(x)) != __float_as_uint(Op::ieee(x)) ? 1u : 0u;
  }
  if (Op::kAlsoZero && blockIdx.x == 0 && threadIdx.x == 0) {
    local += __float_as_uint(fmaxf(Op::fast(0.0f), 0.0f)) != __float_as_uint(Op::ieee(0.0f)) ? 1u : 0u;
  }
  if (local != 0) atomicAdd(bad, local);
}

/// Launches check_every_float_kernel<Op> over [first, last]; returns how many floats it covers.
template <typename Op>
std::uint64_t check_every_float(float first, float last, unsigned long long* bad, cudaStream_t s) {
  const auto lo = std::bit_cast<std::uint32_t>(first);
  const auto hi = std::bit_cast<std::uint32_t>(last);
  const auto kernel = check_every_float_kernel<Op>;
  kernel<<<grid_size(kernel, kThreadsSmall, (hi - lo) / kThreadsSmall + 1), kThreadsSmall, 0, s>>>(lo, hi,
                                                                                                   bad);
  check_launch();
  return static_cast<std::uint64_t>(hi - lo) + 1 + (Op::kAlsoZero ? 1 : 0);
}

__device__ std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

__device__ float hashed_float(std::uint64_t h, int exp_lo, int exp_hi) {
  const auto span = static_cast<std::uint32_t>(exp_hi - exp_lo + 1);
  const int e = exp_lo + static_cast<int>((h >> 40) % span);
  return __uint_as_float((static_cast<std::uint32_t>(e + 127) << 23) |
                         (static_cast<std::uint32_t>(h) & 0x7fffffu));
}

// Division samples: b and the quotient log-uniform over the exponent ranges of `r`.
struct DivSampleRange {
  int b_lo, b_hi, q_lo, q_hi;
};

__global__ void check_div_kernel(std::uint64_t samples, DivSampleRange r, unsigned long long* checked,
                                 unsigned long long* bad) {
  const std::uint64_t stride = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  unsigned long long n_checked = 0;
  unsigned long long n_bad = 0;
  for (std::uint64_t i = static_cast<std::uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < samples;
       i += stride) {
    const std::uint64_t h1 = mix64(2 * i + 0x1234567ull);
    const std::uint64_t h2 = mix64(2 * i + 0x89abcdeull);
    const float b = hashed_float(h1, r.b_lo, r.b_hi);
    float a = __fmul_rn(b, hashed_float(h2, r.q_lo, r.q_hi));
    if (((h2 >> 63) & 1u) != 0) a = -a;
    const float q = __fdiv_rn(a, b);
    const bool in_range =
        fabsf(a) >= kDivFastMin && fabsf(a) <= FLT_MAX && fabsf(q) >= kDivFastMin && fabsf(q) <= kDivFastMax;
    if (!in_range) continue;
    ++n_checked;
    n_bad += __float_as_uint(copysignf(div_rn_in_range(a, b), a)) != __float_as_uint(q) ? 1u : 0u;
  }
  atomicAdd(checked, n_checked);
  if (n_bad != 0) atomicAdd(bad, n_bad);
}

void check_count(std::int64_t n) {
  if (n < 0) throw std::invalid_argument("optiscope::kernels: negative element count");
}

}  // namespace

void upload_quant_maps(float* qmap_m_dev, float* qmap_v_dev, void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  // Function-local statics outlive the asynchronous copies.
  const optim::QuantMap& qm = optim::signed_dynamic_map();
  const optim::QuantMap& qv = optim::unsigned_dynamic_map();
  OPTISCOPE_CUDA_CHECK(cudaMemcpyAsync(qmap_m_dev, qm.data(), sizeof(qm), cudaMemcpyHostToDevice, s));
  OPTISCOPE_CUDA_CHECK(cudaMemcpyAsync(qmap_v_dev, qv.data(), sizeof(qv), cudaMemcpyHostToDevice, s));
  ensure_tables(s);
}

void adamw8bit_blockwise(void* p, const void* g, DType dtype, std::uint8_t* code_m, std::uint8_t* code_v,
                         float* absmax_m, float* absmax_v, const float* qmap_m_dev, const float* qmap_v_dev,
                         std::int64_t n, const optim::AdamHyper& h, void* stream) {
  check_count(n);
  if (n == 0) return;
  const auto s = static_cast<cudaStream_t>(stream);
  ensure_tables(s);
  const AdamConsts k = make_consts(h);
  if (dtype == DType::f32) {
    launch_adamw8bit(static_cast<float*>(p), static_cast<const float*>(g), code_m, code_v, absmax_m, absmax_v,
                     qmap_m_dev, qmap_v_dev, n, k, s);
  } else {
    launch_adamw8bit(static_cast<Bf16Bits*>(p), static_cast<const Bf16Bits*>(g), code_m, code_v, absmax_m,
                     absmax_v, qmap_m_dev, qmap_v_dev, n, k, s);
  }
}

void adamw32_fused(void* p, const void* g, DType dtype, float* m, float* v, std::int64_t n,
                   const optim::AdamHyper& h, void* stream) {
  check_count(n);
  if (n == 0) return;
  const auto s = static_cast<cudaStream_t>(stream);
  const AdamConsts k = make_consts(h);
  if (dtype == DType::f32) {
    launch_adamw32(static_cast<float*>(p), static_cast<const float*>(g), m, v, n, k, s);
  } else {
    launch_adamw32(static_cast<Bf16Bits*>(p), static_cast<const Bf16Bits*>(g), m, v, n, k, s);
  }
}

void fill_zero(void* ptr, std::size_t bytes, void* stream) {
  if (bytes == 0) return;
  auto* bytes_ptr = static_cast<unsigned char*>(ptr);
  const std::size_t misalign = reinterpret_cast<std::uintptr_t>(bytes_ptr) % 16;
  std::size_t head = misalign == 0 ? 0 : 16 - misalign;
  if (head > bytes) head = bytes;
  const std::size_t body16 = (bytes - head) / 16;
  const std::size_t tail = bytes - head - body16 * 16;
  const auto work = static_cast<std::int64_t>((body16 + kThreadsSmall - 1) / kThreadsSmall + 1);
  const int grid = grid_size(fill_zero_kernel, kThreadsSmall, work);
  fill_zero_kernel<<<grid, kThreadsSmall, 0, static_cast<cudaStream_t>(stream)>>>(bytes_ptr, head, body16,
                                                                                  tail);
  check_launch();
}

void quantize_nearest(const float* x, std::uint8_t* codes, std::int64_t n, bool is_signed, void* stream) {
  check_count(n);
  if (n == 0) return;
  const auto s = static_cast<cudaStream_t>(stream);
  ensure_tables(s);
  const std::int64_t work = (n + kThreadsSmall - 1) / kThreadsSmall;
  if (is_signed) {
    quantize_kernel<true>
        <<<grid_size(quantize_kernel<true>, kThreadsSmall, work), kThreadsSmall, 0, s>>>(x, codes, n);
  } else {
    quantize_kernel<false>
        <<<grid_size(quantize_kernel<false>, kThreadsSmall, work), kThreadsSmall, 0, s>>>(x, codes, n);
  }
  check_launch();
}

void dequantize_blockwise(const std::uint8_t* codes, const float* absmax, const float* qmap_dev, float* out,
                          std::int64_t n, void* stream) {
  check_count(n);
  if (n == 0) return;
  const std::int64_t work = (n + kThreadsSmall - 1) / kThreadsSmall;
  dequantize_kernel<<<grid_size(dequantize_kernel, kThreadsSmall, work), kThreadsSmall, 0,
                      static_cast<cudaStream_t>(stream)>>>(codes, absmax, qmap_dev, out, n);
  check_launch();
}

InRangeMathCheck check_in_range_math(std::uint64_t div_samples, void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  unsigned long long* counters = nullptr;
  OPTISCOPE_CUDA_CHECK(cudaMalloc(&counters, 5 * sizeof(unsigned long long)));
  InRangeMathCheck out;
  try {
    OPTISCOPE_CUDA_CHECK(cudaMemsetAsync(counters, 0, 5 * sizeof(unsigned long long), s));
    out.sqrt_checked = check_every_float<SqrtInRange>(kSqrtFastMin, FLT_MAX, counters, s);
    const auto work = static_cast<std::int64_t>(div_samples / kThreadsSmall + 1);
    const int grid = grid_size(check_div_kernel, kThreadsSmall, work);
    // The whole in-range domain, then the normalisation's part of it: absmax in
    // [kNormDivMin, kNormDivMax], quotients in [2^-24, 1).
    check_div_kernel<<<grid, kThreadsSmall, 0, s>>>(div_samples, DivSampleRange{-100, 99, -100, 99},
                                                    counters + 1, counters + 2);
    check_launch();
    check_div_kernel<<<grid, kThreadsSmall, 0, s>>>(div_samples, DivSampleRange{-76, 99, -24, -1},
                                                    counters + 3, counters + 4);
    check_launch();
    unsigned long long host[5] = {};
    OPTISCOPE_CUDA_CHECK(cudaMemcpyAsync(host, counters, sizeof(host), cudaMemcpyDeviceToHost, s));
    OPTISCOPE_CUDA_CHECK(cudaStreamSynchronize(s));
    out.norm_div_checked = host[3];
    out.norm_div_mismatches = host[4];
    out.sqrt_mismatches = host[0];
    out.div_checked = host[1];
    out.div_mismatches = host[2];
  } catch (...) {
    (void)cudaFree(counters);
    throw;
  }
  OPTISCOPE_CUDA_CHECK(cudaFree(counters));
  return out;
}

}  // namespace optiscope::kernels
