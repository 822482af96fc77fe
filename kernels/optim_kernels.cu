// CUDA twins of core/optim/adamw_math.cpp. Every floating-point operation is spelled with a
// round-to-nearest intrinsic (__fmul_rn, __fadd_rn, __fdiv_rn, __fsqrt_rn) because nvcc would
// otherwise contract a*b+c into one fma and drift from the CPU oracle, which rounds each step.
#include "optim_kernels.h"

#include <cuda_runtime.h>

#include <array>
#include <bit>
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
  throw std::runtime_error(std::string("CUDA error: ") + cudaGetErrorName(err) + ": " + cudaGetErrorString(err) +
                           " (" + what + " at " + file + ":" + std::to_string(line) + ")");
}

#define OPTISCOPE_CUDA_CHECK(expr)                                           \
  do {                                                                       \
    const cudaError_t optiscope_err_ = (expr);                               \
    if (optiscope_err_ != cudaSuccess) {                                     \
      throw_cuda(optiscope_err_, #expr, __FILE__, __LINE__);                 \
    }                                                                        \
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
// built), and a threshold shares its bucket's top bits, so one 32-bit entry answers a bucket: the
// code at its start (bits 17..24) and the low 16 bits of its threshold (bits 0..16). That is one
// shared-memory load per search instead of eight for a binary search, and the result is the exact
// quantize_nearest answer (an exhaustive test over all floats checks it on the device).
constexpr std::uint32_t kTabFirst = 0x33800000u;  // 2^-24, below every threshold
constexpr std::uint32_t kTabLast = 0x3f800000u;   // 1.0, the largest normalised magnitude
constexpr int kTabEntries = static_cast<int>((kTabLast >> 16) - (kTabFirst >> 16)) + 1;
constexpr int kTabStride = (kTabEntries + 3) / 4 * 4;  // whole uint4s, for the shared-memory copy
constexpr int kTabSignedPos = 0;                       // signed map, x >= +0
constexpr int kTabSignedNeg = kTabStride;              // signed map, x <= -0
constexpr int kTabUnsigned = 2 * kTabStride;           // unsigned map, x >= +0 (x < 0 gives code 0)
constexpr int kTabWords = 3 * kTabStride;
constexpr std::uint32_t kNoThreshold = 0x10000u;  // larger than any 16-bit low part

__device__ __align__(16) std::uint32_t g_quant_tables[kTabWords];

__host__ __device__ inline std::uint32_t float_bits(float x) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(x);
#else
  return std::bit_cast<std::uint32_t>(x);
#endif
}

/// Code of the map entry nearest to x, as optim::quantize_nearest returns it (NaN gives 0).
template <bool kSigned>
__host__ __device__ inline std::uint32_t nearest_code(float x, const std::uint32_t* tabs) {
  const std::uint32_t bits = float_bits(x);
  std::uint32_t mag = bits & 0x7fffffffu;
  const bool negative = (bits >> 31) != 0;
  const bool nan = mag > 0x7f800000u;
  // Magnitudes below the first bucket have no threshold between them and it; above 1.0 none
  // either (|x| <= 1 after normalisation; inf only from a non-finite moment).
  mag = mag < kTabFirst ? kTabFirst : (mag > kTabLast ? kTabLast : mag);
  const std::uint32_t idx = (mag >> 16) - (kTabFirst >> 16);
  const std::uint32_t low = mag & 0xffffu;
  if constexpr (kSigned) {
    const std::uint32_t e = tabs[(negative ? kTabSignedNeg : kTabSignedPos) + idx];
    const std::uint32_t passed = low >= (e & 0x1ffffu) ? 1u : 0u;
    const std::uint32_t code = negative ? (e >> 17) - passed : (e >> 17) + passed;
    return nan ? 0u : code;
  } else {
    const std::uint32_t e = tabs[kTabUnsigned + idx];
    const std::uint32_t code = (e >> 17) + (low >= (e & 0x1ffffu) ? 1u : 0u);
    return (nan || negative) ? 0u : code;
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

void fill_tables(const optim::QuantMap& map, bool is_signed, std::uint32_t* pos, std::uint32_t* neg) {
  for (std::size_t j = 0; j + 1 < map.size(); ++j) {
    if (!(map[j] < map[j + 1])) throw std::logic_error("quantization map is not strictly increasing");
  }
  std::array<float, 255> thr{};
  for (std::size_t j = 0; j < thr.size(); ++j) thr[j] = upper_choice_threshold(map[j], map[j + 1]);
  const float first_bucket_end = std::bit_cast<float>(kTabFirst + 0x10000u);
  for (const float t : thr) {
    if (!(std::fabs(t) >= first_bucket_end)) throw std::logic_error("quantization threshold below table range");
    if (!is_signed && !(t > 0.0f)) throw std::logic_error("unsigned quantization map has a threshold <= 0");
  }
  for (int k = 0; k < kTabEntries; ++k) {
    const std::uint32_t lo_bits = kTabFirst + (static_cast<std::uint32_t>(k) << 16);
    const float lo = std::bit_cast<float>(lo_bits);
    const float hi = std::bit_cast<float>(lo_bits + 0x10000u);
    // x in [lo, hi): thresholds below lo all count, one in the bucket counts from its low bits up.
    std::uint32_t below = 0;
    std::uint32_t inside = 0;
    std::uint32_t low_part = kNoThreshold;
    for (const float t : thr) {
      if (t < lo) ++below;
      if (t >= lo && t < hi) {
        ++inside;
        low_part = float_bits(t) & 0xffffu;
      }
    }
    if (inside > 1) throw std::logic_error("two quantization thresholds share a table bucket");
    pos[k] = (below << 17) | low_part;
    if (!is_signed) continue;
    // x in (-hi, -lo]: thresholds at or below -hi all count, one in (-hi, -lo] counts while
    // |x| <= |T|, i.e. the count drops by one once the low bits of |x| pass those of |T|.
    std::uint32_t at_or_below = 0;
    inside = 0;
    low_part = kNoThreshold;
    for (const float t : thr) {
      if (t <= -hi) ++at_or_below;
      if (t > -hi && t <= -lo) {
        ++inside;
        low_part = (float_bits(t) & 0xffffu) + 1u;
      }
    }
    if (inside > 1) throw std::logic_error("two quantization thresholds share a table bucket");
    neg[k] = ((at_or_below + inside) << 17) | low_part;
  }
}

std::vector<std::uint32_t> build_quant_tables() {
  const optim::QuantMap& qm = optim::signed_dynamic_map();
  // The sign fix reads the sign of a code from its index, not from the map.
  for (std::uint32_t c = 0; c < 256; ++c) {
    if (std::signbit(qm[c]) != (c < kSignedZeroCode)) throw std::logic_error("signed map: unexpected sign layout");
  }
  std::vector<std::uint32_t> tabs(kTabWords, 0u);
  fill_tables(qm, true, tabs.data() + kTabSignedPos, tabs.data() + kTabSignedNeg);
  fill_tables(optim::unsigned_dynamic_map(), false, tabs.data() + kTabUnsigned, nullptr);
  return tabs;
}

const std::vector<std::uint32_t>& host_quant_tables() {
  static const std::vector<std::uint32_t> tabs = build_quant_tables();
  return tabs;
}

// Copies the search tables into shared memory; the block size must be a multiple of 32.
__device__ __forceinline__ void load_tables(std::uint32_t* s_tabs) {
  const auto* src = reinterpret_cast<const uint4*>(g_quant_tables);
  auto* dst = reinterpret_cast<uint4*>(s_tabs);
  for (int i = static_cast<int>(threadIdx.x); i < kTabWords / 4; i += static_cast<int>(blockDim.x)) dst[i] = src[i];
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
  OPTISCOPE_CUDA_CHECK(cudaMemcpyToSymbolAsync(g_quant_tables, tabs.data(), tabs.size() * sizeof(std::uint32_t), 0,
                                               cudaMemcpyHostToDevice, stream));
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

void check_launch() { OPTISCOPE_CUDA_CHECK(cudaGetLastError()); }

bool aligned(const void* ptr, std::size_t bytes) { return reinterpret_cast<std::uintptr_t>(ptr) % bytes == 0; }

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

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(Bf16Bits b) { return __uint_as_float(static_cast<std::uint32_t>(b) << 16); }

template <typename T>
__device__ __forceinline__ T from_f(float x);

template <>
__device__ __forceinline__ float from_f<float>(float x) {
  return x;
}

// Round to nearest even with NaN kept quiet and its payload kept: optim::from_float<Bf16>.
template <>
__device__ __forceinline__ Bf16Bits from_f<Bf16Bits>(float x) {
  const std::uint32_t u = __float_as_uint(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<Bf16Bits>((u >> 16) | 0x40u);
  return static_cast<Bf16Bits>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

__device__ __forceinline__ bool is_finite(float x) { return (__float_as_uint(x) & 0x7f800000u) != 0x7f800000u; }

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

constexpr int kThreads8 = 256;
constexpr int kWarps8 = kThreads8 / 32;
constexpr int kPerLane = kBlock / 32;

__device__ __forceinline__ std::int64_t lane_offset(int lane, int e) { return (e >> 2) * 128 + lane * 4 + (e & 3); }

template <typename T, bool kVector>
__global__ void __launch_bounds__(kThreads8) adamw8bit_kernel(T* __restrict__ p, const T* __restrict__ g,
                                                              std::uint8_t* __restrict__ code_m,
                                                              std::uint8_t* __restrict__ code_v,
                                                              float* __restrict__ absmax_m,
                                                              float* __restrict__ absmax_v,
                                                              const float* __restrict__ qmap_m,
                                                              const float* __restrict__ qmap_v, std::int64_t n,
                                                              AdamConsts k) {
  __shared__ float s_qm[256];
  __shared__ float s_qv[256];
  __shared__ __align__(16) std::uint32_t s_tabs[kTabWords];
  for (int i = static_cast<int>(threadIdx.x); i < 256; i += kThreads8) {
    s_qm[i] = qmap_m[i];
    s_qv[i] = qmap_v[i];
  }
  load_tables(s_tabs);
  __syncthreads();

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
      if (((valid >> e) & 1u) != 0 && is_finite(gi)) {
        const std::uint32_t cmi = (cm_in[e / 4] >> (8 * (e % 4))) & 0xffu;
        const std::uint32_t cvi = (cv_in[e / 4] >> (8 * (e % 4))) & 0xffu;
        v[e] = __fadd_rn(__fmul_rn(__fmul_rn(s_qv[cvi], av_old), k.beta2),
                         __fmul_rn(__fmul_rn(k.one_minus_beta2, gi), gi));
        m[e] = __fadd_rn(__fmul_rn(__fmul_rn(s_qm[cmi], am_old), k.beta1), __fmul_rn(k.one_minus_beta1, gi));
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

    std::uint32_t cm_out[2] = {0, 0};
    std::uint32_t cv_out[2] = {0, 0};
#pragma unroll
    for (int e = 0; e < kPerLane; ++e) {
      // The parameter sees this step's unquantised moments.
      if (((updated >> e) & 1u) != 0) praw[e] = adam_param_update(praw[e], m[e], v[e], k);
      std::uint32_t cm = kSignedZeroCode;
      if (mx_m > 0.0f) {
        cm = nearest_code<true>(__fdiv_rn(m[e], mx_m), s_tabs);
        // Sign fix: a tiny negative m that lands on +0.0 moves to the smallest negative code.
        const bool code_negative = cm < kSignedZeroCode;
        if (code_negative != ((__float_as_uint(m[e]) >> 31) != 0)) cm = (m[e] > 0.0f ? cm + 1u : cm - 1u) & 0xffu;
      }
      const std::uint32_t cv = mx_v > 0.0f ? nearest_code<false>(__fdiv_rn(v[e], mx_v), s_tabs) : 0u;
      cm_out[e / 4] |= cm << (8 * (e % 4));
      cv_out[e / 4] |= cv << (8 * (e % 4));
    }

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
        code_m[i] = static_cast<std::uint8_t>(cm_out[e / 4] >> (8 * (e % 4)));
        code_v[i] = static_cast<std::uint8_t>(cv_out[e / 4] >> (8 * (e % 4)));
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
                      float* absmax_v, const float* qmap_m, const float* qmap_v, std::int64_t n, const AdamConsts& k,
                      cudaStream_t stream) {
  const std::int64_t nqb = (n + kBlock - 1) / kBlock;
  const std::int64_t work = (nqb + kWarps8 - 1) / kWarps8;
  const bool vec = aligned(p, 4 * sizeof(T)) && aligned(g, 4 * sizeof(T)) && aligned(code_m, 4) && aligned(code_v, 4);
  if (vec) {
    const int grid = grid_size(adamw8bit_kernel<T, true>, kThreads8, work);
    adamw8bit_kernel<T, true><<<grid, kThreads8, 0, stream>>>(p, g, code_m, code_v, absmax_m, absmax_v, qmap_m,
                                                              qmap_v, n, k);
  } else {
    const int grid = grid_size(adamw8bit_kernel<T, false>, kThreads8, work);
    adamw8bit_kernel<T, false><<<grid, kThreads8, 0, stream>>>(p, g, code_m, code_v, absmax_m, absmax_v, qmap_m,
                                                               qmap_v, n, k);
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
__global__ void __launch_bounds__(kThreads32) adamw32_kernel(T* __restrict__ p, const T* __restrict__ g,
                                                             float* __restrict__ m, float* __restrict__ v,
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
void launch_adamw32(T* p, const T* g, float* m, float* v, std::int64_t n, const AdamConsts& k, cudaStream_t stream) {
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
__global__ void __launch_bounds__(kThreadsSmall) quantize_kernel(const float* __restrict__ x,
                                                                 std::uint8_t* __restrict__ codes, std::int64_t n) {
  __shared__ __align__(16) std::uint32_t s_tabs[kTabWords];
  load_tables(s_tabs);
  __syncthreads();
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    codes[i] = static_cast<std::uint8_t>(nearest_code<kSigned>(x[i], s_tabs));
  }
}

__global__ void dequantize_kernel(const std::uint8_t* __restrict__ codes, const float* __restrict__ absmax,
                                  const float* __restrict__ qmap, float* __restrict__ out, std::int64_t n) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
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
    launch_adamw8bit(static_cast<Bf16Bits*>(p), static_cast<const Bf16Bits*>(g), code_m, code_v, absmax_m, absmax_v,
                     qmap_m_dev, qmap_v_dev, n, k, s);
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
  fill_zero_kernel<<<grid, kThreadsSmall, 0, static_cast<cudaStream_t>(stream)>>>(bytes_ptr, head, body16, tail);
  check_launch();
}

void quantize_nearest(const float* x, std::uint8_t* codes, std::int64_t n, bool is_signed, void* stream) {
  check_count(n);
  if (n == 0) return;
  const auto s = static_cast<cudaStream_t>(stream);
  ensure_tables(s);
  const std::int64_t work = (n + kThreadsSmall - 1) / kThreadsSmall;
  if (is_signed) {
    quantize_kernel<true><<<grid_size(quantize_kernel<true>, kThreadsSmall, work), kThreadsSmall, 0, s>>>(x, codes, n);
  } else {
    quantize_kernel<false><<<grid_size(quantize_kernel<false>, kThreadsSmall, work), kThreadsSmall, 0, s>>>(x, codes,
                                                                                                          n);
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
