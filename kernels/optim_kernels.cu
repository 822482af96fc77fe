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
#include <utility>
#include <vector>

#include "optim/dynamic_map.h"

namespace optiscope::kernels {
namespace {

[[noreturn]] void throw_cuda(cudaError_t err, const char* what, const char* file, int line) {
  throw std::runtime_error(std::string("CUDA error: ") + cudaGetErrorName(err) + ": " +
                           cudaGetErrorString(err) + " (" + what + " at " + file + ":" +
                           std::to_string(line) + ")");
}

#define OPTISCOPE_CUDA_CHECK(expr)                           \
  do {                                                       \
    const cudaError_t optiscope_err_ = (expr);               \
    if (optiscope_err_ != cudaSuccess) {                     \
      throw_cuda(optiscope_err_, #expr, __FILE__, __LINE__); \
    }                                                        \
  } while (0)

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
// built), and a threshold shares its bucket's top bits, so one 32-bit entry answers a bucket:
// (L << 8) | code at the bucket's start, where the code steps up by one once the low 16 bits of
// |x| reach L (L = 0x10000: no threshold in the bucket). For x < 0 the low bits are flipped so that
// the same comparison works while |x| grows. That is one shared-memory load per search instead of
// eight for a binary search, and the exact quantize_nearest answer (an exhaustive test over all
// floats checks it on the device).
constexpr std::uint32_t kTabFirst = 0x33800000u;  // 2^-24, below every threshold
constexpr std::uint32_t kTabLast = 0x3f800000u;   // 1.0, the largest normalised magnitude
constexpr int kTabEntries = static_cast<int>((kTabLast >> 16) - (kTabFirst >> 16)) + 1;
constexpr int kTabStride = (kTabEntries + 3) / 4 * 4;  // whole uint4s, for the shared-memory copy
// Table order in global memory; the 8-bit kernel copies the first three into shared memory.
constexpr int kTabSignedPos = 0;                  // signed map, x >= +0
constexpr int kTabSignedNegFixed = kTabStride;    // signed map, x <= -0, with the sign fix folded in
constexpr int kTabUnsigned = 2 * kTabStride;      // unsigned map, x >= +0 (x < 0 gives code 0)
constexpr int kTabSignedNegRaw = 3 * kTabStride;  // signed map, x <= -0, plain nearest entry
constexpr int kTabWordsAll = 4 * kTabStride;
constexpr int kTabWords8bit = 3 * kTabStride;
constexpr std::uint32_t kNoThreshold = 0x10000u;  // larger than any 16-bit low part

__device__ __align__(16) std::uint32_t g_quant_tables[kTabWordsAll];

__host__ __device__ inline std::uint32_t float_bits(float x) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(x);
#else
  return std::bit_cast<std::uint32_t>(x);
#endif
}

// (low 16 bits of mag ^ flip) << 8 | 0xff: compares against (L << 8) | code as "low >= L".
__host__ __device__ inline std::uint32_t search_key(std::uint32_t mag, std::uint32_t flip) {
#ifdef __CUDA_ARCH__
  return __byte_perm(mag ^ flip, 0xffu, 0x5104);
#else
  return (((mag ^ flip) & 0xffffu) << 8) | 0xffu;
#endif
}

/// Table lookup for a magnitude mag <= bits of 1.0 + a few ulps; flip is all ones for x < 0
/// (with the matching negative table), else 0. The code is the low byte of the result.
__host__ __device__ inline std::uint32_t table_code(std::uint32_t mag, std::uint32_t flip,
                                                    const std::uint32_t* tab) {
  mag = mag < kTabFirst ? kTabFirst : mag;
  const std::uint32_t e = tab[(mag >> 16) - (kTabFirst >> 16)];
  return e + (search_key(mag, flip) >= e ? 1u : 0u);
}

/// Any float: the code optim::quantize_nearest returns (NaN gives 0) when neg is the plain
/// negative table, that code with the sign fix applied when neg is the folded one.
template <bool kSigned>
__host__ __device__ inline std::uint32_t nearest_code(float x, const std::uint32_t* pos,
                                                      const std::uint32_t* neg) {
  const std::uint32_t bits = float_bits(x);
  std::uint32_t mag = bits & 0x7fffffffu;
  const bool negative = (bits >> 31) != 0;
  if (mag > 0x7f800000u) return 0;     // NaN: lower_bound finds no entry below it
  if (mag > kTabLast) mag = kTabLast;  // no threshold above 1.0
  if constexpr (kSigned) {
    return table_code(mag, negative ? 0xffffffffu : 0u, negative ? neg : pos) & 0xffu;
  } else {
    return negative ? 0u : table_code(mag, 0u, pos) & 0xffu;
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

std::uint32_t entry(std::uint32_t code, std::uint32_t low_limit) {
  return (low_limit << 8) | code;
}

// neg_fixed (signed maps only) folds in the sign fix: a negative x never gets a code above
// sign_fix_max, the largest code of a negative entry.
void fill_tables(const optim::QuantMap& map, bool is_signed, std::uint32_t* pos, std::uint32_t* neg_raw,
                 std::uint32_t* neg_fixed, std::uint32_t sign_fix_max) {
  for (std::size_t j = 0; j + 1 < map.size(); ++j) {
    if (!(map[j] < map[j + 1])) throw std::logic_error("quantization map is not strictly increasing");
  }
  std::array<float, 255> thr{};
  for (std::size_t j = 0; j < thr.size(); ++j) thr[j] = upper_choice_threshold(map[j], map[j + 1]);
  const float first_bucket_end = std::bit_cast<float>(kTabFirst + 0x10000u);
  for (const float t : thr) {
    if (!(std::fabs(t) >= first_bucket_end))
      throw std::logic_error("quantization threshold below table range");
    if (!is_signed && !(t > 0.0f)) throw std::logic_error("unsigned quantization map has a threshold <= 0");
  }
  for (int k = 0; k < kTabEntries; ++k) {
    const std::uint32_t lo_bits = kTabFirst + (static_cast<std::uint32_t>(k) << 16);
    const float lo = std::bit_cast<float>(lo_bits);
    const float hi = std::bit_cast<float>(lo_bits + 0x10000u);
    // x in [lo, hi): thresholds below lo all count, one inside counts once x's low bits reach its.
    std::uint32_t below = 0;
    std::uint32_t inside = 0;
    std::uint32_t limit = kNoThreshold;
    for (const float t : thr) {
      if (t < lo) ++below;
      if (t >= lo && t < hi) {
        ++inside;
        limit = float_bits(t) & 0xffffu;
      }
    }
    if (inside > 1) throw std::logic_error("two quantization thresholds share a table bucket");
    pos[k] = entry(below, limit);
    if (!is_signed) continue;
    // x in (-hi, -lo]: thresholds at or below -hi all count, one inside (magnitude S) counts while
    // |x| <= S, i.e. while the flipped low bits of |x| are >= the flipped low bits of S.
    std::uint32_t at_or_below = 0;
    inside = 0;
    limit = kNoThreshold;
    for (const float t : thr) {
      if (t <= -hi) ++at_or_below;
      if (t > -hi && t <= -lo) {
        ++inside;
        limit = (float_bits(t) & 0xffffu) ^ 0xffffu;
      }
    }
    if (inside > 1) throw std::logic_error("two quantization thresholds share a table bucket");
    neg_raw[k] = entry(at_or_below, limit);
    neg_fixed[k] = at_or_below + inside > sign_fix_max ? entry(sign_fix_max, kNoThreshold) : neg_raw[k];
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
  fill_tables(qm, true, tabs.data() + kTabSignedPos, tabs.data() + kTabSignedNegRaw,
              tabs.data() + kTabSignedNegFixed, kSignedZeroCode - 1);
  fill_tables(optim::unsigned_dynamic_map(), false, tabs.data() + kTabUnsigned, nullptr, nullptr, 0);
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
int grid_size(Kernel kernel, int threads, std::int64_t work_blocks) {
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
      OPTISCOPE_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, 0));
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
  float decay;      // 1 - lr * wd
  int decay_on;     // wd > 0
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
  k.decay = 1.0f - h.lr * h.weight_decay;
  k.decay_on = h.weight_decay > 0.0f ? 1 : 0;
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
  T out = from_f<T>(__fadd_rn(to_f(p), __fmul_rn(k.step_size, __fdiv_rn(m, denom))));
  if (k.decay_on != 0) out = from_f<T>(__fmul_rn(to_f(out), k.decay));
  return out;
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
// reductions are register shuffles; each CUDA block walks many quantization blocks (grid stride)
// to pay once for the maps and search tables in shared memory. Lane l owns elements
// 4l..4l+3 and 128+4l..128+4l+3 of its block, which keeps every warp-wide access contiguous.
//
// Hopper issues integer and logic instructions at half the rate of float ones, and at 10 bytes
// per parameter the kernel has only about a hundred instructions per element to stay at the
// memory floor: hence the one-load code search, the sign fix folded into its table and the
// division by the block absmax through a reciprocal computed once per block.

constexpr int kThreads8 = 256;
constexpr int kWarps8 = kThreads8 / 32;
constexpr int kPerLane = kBlock / 32;

// Normalisation by a reciprocal is exact (RN(a / b), checked against IEEE division) for b in this
// range and every quotient that can change a code (|a / b| >= 2^-24): y = RN(1/b) is normal and
// the residuals of the two Markstein corrections are exact. Other blocks take the IEEE division.
constexpr float kFastDivMin = 0x1p-78f;
constexpr float kFastDivMax = 0x1p100f;

__device__ __forceinline__ std::int64_t lane_offset(int lane, int e) {
  return (e >> 2) * 128 + lane * 4 + (e & 3);
}

// RN(a / b) for a >= 0 given y = RN(1 / b).
__device__ __forceinline__ float div_by_reciprocal(float a, float b, float y) {
  float q = __fmul_rn(a, y);
  float r = __fmaf_rn(-b, q, a);
  q = __fmaf_rn(r, y, q);
  r = __fmaf_rn(-b, q, a);
  return __fmaf_rn(r, y, q);
}

__device__ __forceinline__ bool uniform_fast_range(float mx) {
  return mx == 0.0f || (mx >= kFastDivMin && mx <= kFastDivMax);
}

__device__ __forceinline__ std::uint32_t byte_of(std::uint32_t word, int j) {
  return (word >> (8 * j)) & 0xffu;
}

// Packs the low bytes of four codes into one word.
__device__ __forceinline__ std::uint32_t pack_codes(const std::uint32_t* c) {
  return __byte_perm(__byte_perm(c[0], c[1], 0x0040), __byte_perm(c[2], c[3], 0x0040), 0x5410);
}

template <typename T, bool kVector>
__global__ void __launch_bounds__(kThreads8)
    adamw8bit_kernel(T* __restrict__ p, const T* __restrict__ g, std::uint8_t* __restrict__ code_m,
                     std::uint8_t* __restrict__ code_v, float* __restrict__ absmax_m,
                     float* __restrict__ absmax_v, const float* __restrict__ qmap_m,
                     const float* __restrict__ qmap_v, std::int64_t n, AdamConsts k) {
  __shared__ float s_qm[256];
  __shared__ float s_qv[256];
  __shared__ __align__(16) std::uint32_t s_tabs[kTabWords8bit];
  for (int i = static_cast<int>(threadIdx.x); i < 256; i += kThreads8) {
    s_qm[i] = qmap_m[i];
    s_qv[i] = qmap_v[i];
  }
  copy_tables(s_tabs, 0, kTabWords8bit);
  __syncthreads();
  const std::uint32_t* tab_pos = s_tabs + kTabSignedPos;
  const std::uint32_t* tab_neg = s_tabs + kTabSignedNegFixed;
  const std::uint32_t* tab_v = s_tabs + kTabUnsigned;

  const int lane = static_cast<int>(threadIdx.x) & 31;
  const std::int64_t nqb = (n + kBlock - 1) / kBlock;
  for (std::int64_t qb = static_cast<std::int64_t>(blockIdx.x) * kWarps8 + (threadIdx.x >> 5); qb < nqb;
       qb += static_cast<std::int64_t>(gridDim.x) * kWarps8) {
    const std::int64_t base = qb * kBlock;
    const bool full = kVector && base + kBlock <= n;
    T praw[kPerLane];
    T graw[kPerLane];
    std::uint32_t cm_in[2];
    std::uint32_t cv_in[2];
    std::uint32_t valid = (1u << kPerLane) - 1u;
    if (full) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const std::int64_t i = base + lane_offset(lane, 4 * h);
        load4(g + i, graw + 4 * h);
        load4(p + i, praw + 4 * h);
        cm_in[h] = *reinterpret_cast<const std::uint32_t*>(code_m + i);
        cv_in[h] = *reinterpret_cast<const std::uint32_t*>(code_v + i);
      }
    } else {
      valid = 0;
#pragma unroll
      for (int e = 0; e < kPerLane; ++e) {
        const std::int64_t i = base + lane_offset(lane, e);
        if (e % 4 == 0) {
          cm_in[e / 4] = 0;
          cv_in[e / 4] = 0;
        }
        praw[e] = T{};
        graw[e] = T{};
        if (i < n) {
          valid |= 1u << e;
          praw[e] = p[i];
          graw[e] = g[i];
          cm_in[e / 4] |= static_cast<std::uint32_t>(code_m[i]) << (8 * (e % 4));
          cv_in[e / 4] |= static_cast<std::uint32_t>(code_v[i]) << (8 * (e % 4));
        }
      }
    }
    const float am_old = absmax_m[qb];
    const float av_old = absmax_v[qb];

    float m[kPerLane];
    float v[kPerLane];
    std::uint32_t updated = 0;
    float mx_m = 0.0f;
    float mx_v = 0.0f;
#pragma unroll
    for (int e = 0; e < kPerLane; ++e) {
      const float gi = to_f(graw[e]);
      m[e] = 0.0f;
      v[e] = 0.0f;
      if (((valid >> e) & 1u) != 0 && fabsf(gi) <= FLT_MAX) {
        v[e] = __fadd_rn(__fmul_rn(__fmul_rn(s_qv[byte_of(cv_in[e / 4], e % 4)], av_old), k.beta2),
                         __fmul_rn(__fmul_rn(k.one_minus_beta2, gi), gi));
        m[e] = __fadd_rn(__fmul_rn(__fmul_rn(s_qm[byte_of(cm_in[e / 4], e % 4)], am_old), k.beta1),
                         __fmul_rn(k.one_minus_beta1, gi));
        updated |= 1u << e;
      }
      // fmaxf drops a NaN operand exactly as std::max(acc, NaN) does on the CPU.
      mx_m = fmaxf(mx_m, fabsf(m[e]));
      mx_v = fmaxf(mx_v, fabsf(v[e]));
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
      mx_m = fmaxf(mx_m, __shfl_xor_sync(0xffffffffu, mx_m, off));
      mx_v = fmaxf(mx_v, __shfl_xor_sync(0xffffffffu, mx_v, off));
    }

    // The parameter sees this step's unquantised moments.
#pragma unroll
    for (int e = 0; e < kPerLane; ++e) {
      if (((updated >> e) & 1u) != 0) praw[e] = adam_param_update(praw[e], m[e], v[e], k);
    }

    std::uint32_t cm[kPerLane];
    std::uint32_t cv[kPerLane];
    // Warp-uniform: with finite old absmax values every m and v is finite (an overflow would
    // make the new absmax infinite), so no NaN reaches the search and |m / absmax| <= 1.
    const bool fast = fabsf(am_old) <= FLT_MAX && fabsf(av_old) <= FLT_MAX && uniform_fast_range(mx_m) &&
                      uniform_fast_range(mx_v);
    if (fast) {
      // A zero absmax gives zero quotients (and codes that are not used) instead of NaN indices.
      const float ym = mx_m > 0.0f ? __frcp_rn(mx_m) : 0.0f;
      const float yv = mx_v > 0.0f ? __frcp_rn(mx_v) : 0.0f;
#pragma unroll
      for (int e = 0; e < kPerLane; ++e) {
        // The sign comes from m itself (a -0.0 must still take the sign fix); |m| feeds the
        // division so the quotient's bits are its magnitude.
        const std::uint32_t flip =
            static_cast<std::uint32_t>(static_cast<std::int32_t>(__float_as_uint(m[e])) >> 31);
        const float qm = div_by_reciprocal(fabsf(m[e]), mx_m, ym);
        const float qv = div_by_reciprocal(fabsf(v[e]), mx_v, yv);
        cm[e] = mx_m > 0.0f ? table_code(__float_as_uint(qm), flip, flip != 0 ? tab_neg : tab_pos)
                            : kSignedZeroCode;
        cv[e] = mx_v > 0.0f ? table_code(__float_as_uint(qv), 0u, tab_v) : 0u;
      }
    } else {
#pragma unroll
      for (int e = 0; e < kPerLane; ++e) {
        cm[e] = kSignedZeroCode;
        if (mx_m > 0.0f) {
          cm[e] = nearest_code<true>(__fdiv_rn(m[e], mx_m), tab_pos, tab_neg);
          // Sign fix, for what the folded table cannot see: a NaN quotient (code 0) of a positive m.
          const bool code_negative = cm[e] < kSignedZeroCode;
          if (code_negative != ((__float_as_uint(m[e]) >> 31) != 0)) {
            cm[e] = (m[e] > 0.0f ? cm[e] + 1u : cm[e] - 1u) & 0xffu;
          }
        }
        cv[e] = mx_v > 0.0f ? nearest_code<false>(__fdiv_rn(v[e], mx_v), tab_v, nullptr) : 0u;
      }
    }
    const std::uint32_t cm_out[2] = {pack_codes(cm), pack_codes(cm + 4)};
    const std::uint32_t cv_out[2] = {pack_codes(cv), pack_codes(cv + 4)};

    if (full) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const std::int64_t i = base + lane_offset(lane, 4 * h);
        store4(p + i, praw + 4 * h);
        *reinterpret_cast<std::uint32_t*>(code_m + i) = cm_out[h];
        *reinterpret_cast<std::uint32_t*>(code_v + i) = cv_out[h];
      }
    } else {
#pragma unroll
      for (int e = 0; e < kPerLane; ++e) {
        if (((valid >> e) & 1u) == 0) continue;
        const std::int64_t i = base + lane_offset(lane, e);
        p[i] = praw[e];
        code_m[i] = static_cast<std::uint8_t>(byte_of(cm_out[e / 4], e % 4));
        code_v[i] = static_cast<std::uint8_t>(byte_of(cv_out[e / 4], e % 4));
      }
    }
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
  const std::int64_t work = (nqb + kWarps8 - 1) / kWarps8;
  const bool vec =
      aligned(p, 4 * sizeof(T)) && aligned(g, 4 * sizeof(T)) && aligned(code_m, 4) && aligned(code_v, 4);
  if (vec) {
    const int grid = grid_size(adamw8bit_kernel<T, true>, kThreads8, work);
    adamw8bit_kernel<T, true>
        <<<grid, kThreads8, 0, stream>>>(p, g, code_m, code_v, absmax_m, absmax_v, qmap_m, qmap_v, n, k);
  } else {
    const int grid = grid_size(adamw8bit_kernel<T, false>, kThreads8, work);
    adamw8bit_kernel<T, false>
        <<<grid, kThreads8, 0, stream>>>(p, g, code_m, code_v, absmax_m, absmax_v, qmap_m, qmap_v, n, k);
  }
  check_launch();
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
  __shared__ __align__(16) std::uint32_t s_tabs[2 * kTabStride];
  if constexpr (kSigned) {
    copy_tables(s_tabs, kTabSignedPos, kTabStride);
    copy_tables(s_tabs + kTabStride, kTabSignedNegRaw, kTabStride);
  } else {
    copy_tables(s_tabs, kTabUnsigned, kTabStride);
  }
  __syncthreads();
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    codes[i] = static_cast<std::uint8_t>(nearest_code<kSigned>(x[i], s_tabs, s_tabs + kTabStride));
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

}  // namespace optiscope::kernels
