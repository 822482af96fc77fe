// Optimizer step time of the CUDA kernels against the memory floor, measured in one run:
//   1. device-to-device copy bandwidth (bytes read + written per second, cudaMemcpyAsync),
//   2. adamw32_fused and adamw8bit_blockwise for fp32 and bf16 parameters/gradients,
// each the median of --steps steps after --warmup steps, timed with CUDA events. floor_ms is the
// bytes each variant must move per parameter (shared/reference/optimizers.md, spec B) times N over
// the measured copy bandwidth. JSON on stdout, progress on stderr.
//
//   optiscope_optimizer_bench [--n 1073741824] [--steps 20] [--warmup 5] [--copy-mib 2048]
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "optim_kernels.h"

namespace {

using optiscope::kernels::DType;

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}
#define CHECK(expr) check((expr), #expr)

struct Options {
  std::int64_t n = std::int64_t{1} << 30;  // 1.07e9 parameters
  int steps = 20;
  int warmup = 5;
  std::int64_t copy_mib = 2048;
};

std::int64_t parse_int(std::string_view s, const char* flag) {
  std::int64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || ptr != s.data() + s.size() || v <= 0) {
    throw std::invalid_argument(std::string("bad value for ") + flag + ": " + std::string(s));
  }
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const auto value = [&](const char* flag) {
      if (i + 1 >= argc) throw std::invalid_argument(std::string(flag) + " needs a value");
      return parse_int(argv[++i], flag);
    };
    if (a == "--n") {
      o.n = value("--n");
    } else if (a == "--steps") {
      o.steps = static_cast<int>(value("--steps"));
    } else if (a == "--warmup") {
      o.warmup = static_cast<int>(value("--warmup"));
    } else if (a == "--copy-mib") {
      o.copy_mib = value("--copy-mib");
    } else {
      throw std::invalid_argument("unknown argument: " + std::string(a));
    }
  }
  return o;
}

class DeviceMemory {
 public:
  explicit DeviceMemory(std::size_t bytes) { CHECK(cudaMalloc(&ptr_, bytes)); }
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  ~DeviceMemory() { (void)cudaFree(ptr_); }
  template <typename T = void>
  T* get() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
};

class Events {
 public:
  Events() {
    CHECK(cudaEventCreate(&start_));
    CHECK(cudaEventCreate(&stop_));
  }
  Events(const Events&) = delete;
  Events& operator=(const Events&) = delete;
  ~Events() {
    (void)cudaEventDestroy(start_);
    (void)cudaEventDestroy(stop_);
  }
  // Median over `timed` calls of fn(i) after `warmup` untimed ones, in milliseconds.
  template <typename Fn>
  double median_ms(int warmup, int timed, Fn&& fn) {
    for (int i = 0; i < warmup; ++i) fn(i);
    CHECK(cudaDeviceSynchronize());
    std::vector<double> ms;
    for (int i = 0; i < timed; ++i) {
      CHECK(cudaEventRecord(start_));
      fn(warmup + i);
      CHECK(cudaEventRecord(stop_));
      CHECK(cudaEventSynchronize(stop_));
      float t = 0.0f;
      CHECK(cudaEventElapsedTime(&t, start_, stop_));
      ms.push_back(t);
    }
    std::sort(ms.begin(), ms.end());
    const std::size_t mid = ms.size() / 2;
    return ms.size() % 2 == 1 ? ms[mid] : 0.5 * (ms[mid - 1] + ms[mid]);
  }

 private:
  cudaEvent_t start_ = nullptr;
  cudaEvent_t stop_ = nullptr;
};

__device__ float hash_uniform(std::uint64_t i, std::uint32_t seed) {
  // splitmix64: cheap, stateless, good enough to give every element a different value.
  std::uint64_t z = i * 0x9e3779b97f4a7c15ull + seed;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * 0x1p-24f * 2.0f - 1.0f;  // [-1, 1)
}

template <typename T>
__device__ T store_as(float x);
template <>
__device__ float store_as<float>(float x) {
  return x;
}
template <>
__device__ __nv_bfloat16 store_as<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

template <typename T>
__global__ void init_kernel(T* out, std::int64_t n, float scale, std::uint32_t seed) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    // Sum of two uniforms: a triangular spread of magnitudes, closer to real gradients than a flat one.
    out[i] = store_as<T>(scale * 0.5f * (hash_uniform(2 * i, seed) + hash_uniform(2 * i + 1, seed)));
  }
}

void init(void* out, DType dtype, std::int64_t n, float scale, std::uint32_t seed) {
  if (dtype == DType::f32) {
    init_kernel<<<1024, 256>>>(static_cast<float*>(out), n, scale, seed);
  } else {
    init_kernel<<<1024, 256>>>(static_cast<__nv_bfloat16*>(out), n, scale, seed);
  }
  CHECK(cudaGetLastError());
}

std::size_t free_bytes() {
  std::size_t free = 0;
  std::size_t total = 0;
  CHECK(cudaMemGetInfo(&free, &total));
  return free;
}

struct Result {
  std::string optimizer;
  std::string dtype;
  bool skipped = false;
  std::string reason;
  double ms = 0.0;
  double bytes_per_param = 0.0;
  double floor_ms = 0.0;
};

constexpr std::size_t kMargin = std::size_t{1} << 30;  // context, library workspaces

Result run_one(const Options& o, bool eight_bit, DType dtype, double copy_bw) {
  Result r;
  r.optimizer = eight_bit ? "adamw8bit_blockwise" : "adamw32_fused";
  r.dtype = dtype == DType::f32 ? "f32" : "bf16";
  const auto n = static_cast<std::size_t>(o.n);
  const std::size_t s = dtype == DType::f32 ? 4 : 2;
  const std::size_t blocks = (n + 255) / 256;
  const std::size_t state = eight_bit ? 2 * n + 2 * blocks * sizeof(float) + 512 * sizeof(float) : 8 * n;
  const std::size_t need = 2 * n * s + state;
  // Spec B of optimizers.md: read g, p and the state, write p and the state.
  r.bytes_per_param =
      eight_bit ? 3.0 * static_cast<double>(s) + 4.0 + 16.0 / 256.0 : 3.0 * static_cast<double>(s) + 16.0;
  r.floor_ms = r.bytes_per_param * static_cast<double>(o.n) / copy_bw * 1e3;
  if (need + kMargin > free_bytes()) {
    r.skipped = true;
    r.reason =
        "needs " + std::to_string(need >> 20) + " MiB, " + std::to_string(free_bytes() >> 20) + " MiB free";
    return r;
  }
  std::fprintf(stderr, "%s %s: %zu MiB\n", r.optimizer.c_str(), r.dtype.c_str(), need >> 20);
  DeviceMemory p(n * s);
  DeviceMemory g(n * s);
  init(p.get(), dtype, o.n, 0.2f, 1u);
  init(g.get(), dtype, o.n, 0.02f, 2u);
  optiscope::optim::AdamHyper h;
  h.weight_decay = 0.01f;
  Events ev;
  if (eight_bit) {
    DeviceMemory codes(2 * n);
    DeviceMemory absmax(2 * blocks * sizeof(float));
    DeviceMemory maps(512 * sizeof(float));
    optiscope::kernels::fill_zero(codes.get(), 2 * n, nullptr);
    optiscope::kernels::fill_zero(absmax.get(), 2 * blocks * sizeof(float), nullptr);
    optiscope::kernels::upload_quant_maps(maps.get<float>(), maps.get<float>() + 256, nullptr);
    auto* cm = codes.get<std::uint8_t>();
    auto* am = absmax.get<float>();
    r.ms = ev.median_ms(o.warmup, o.steps, [&](int i) {
      h.step = i + 1;
      optiscope::kernels::adamw8bit_blockwise(p.get(), g.get(), dtype, cm, cm + n, am, am + blocks,
                                              maps.get<float>(), maps.get<float>() + 256, o.n, h, nullptr);
    });
  } else {
    DeviceMemory mv(8 * n);
    optiscope::kernels::fill_zero(mv.get(), 8 * n, nullptr);
    auto* m = mv.get<float>();
    r.ms = ev.median_ms(o.warmup, o.steps, [&](int i) {
      h.step = i + 1;
      optiscope::kernels::adamw32_fused(p.get(), g.get(), dtype, m, m + n, o.n, h, nullptr);
    });
  }
  CHECK(cudaDeviceSynchronize());
  return r;
}

int run(const Options& o) {
  int dev = 0;
  CHECK(cudaGetDevice(&dev));
  cudaDeviceProp prop{};
  CHECK(cudaGetDeviceProperties(&prop, dev));
  int driver = 0;
  int runtime = 0;
  CHECK(cudaDriverGetVersion(&driver));
  CHECK(cudaRuntimeGetVersion(&runtime));

  // 1. Copy bandwidth, on buffers large enough to defeat the 50 MB L2.
  double copy_bw = 0.0;
  double copy_ms = 0.0;
  std::size_t copy_bytes = static_cast<std::size_t>(o.copy_mib) << 20;
  while (2 * copy_bytes + kMargin > free_bytes() && copy_bytes > (std::size_t{256} << 20)) copy_bytes /= 2;
  {
    DeviceMemory src(copy_bytes);
    DeviceMemory dst(copy_bytes);
    CHECK(cudaMemset(src.get(), 1, copy_bytes));
    CHECK(cudaMemset(dst.get(), 0, copy_bytes));
    Events ev;
    copy_ms = ev.median_ms(3, o.steps, [&](int) {
      CHECK(cudaMemcpyAsync(dst.get(), src.get(), copy_bytes, cudaMemcpyDeviceToDevice));
    });
    copy_bw = 2.0 * static_cast<double>(copy_bytes) / (copy_ms * 1e-3);
  }
  std::fprintf(stderr, "copy: %.1f GB/s\n", copy_bw / 1e9);

  // 2. The optimizers.
  std::vector<Result> results;
  for (const DType dtype : {DType::f32, DType::bf16}) {
    for (const bool eight_bit : {false, true}) results.push_back(run_one(o, eight_bit, dtype, copy_bw));
  }

  std::printf(
      "{\n  \"device\": \"%s\",\n  \"sm_count\": %d,\n  \"cuda_driver\": %d,\n  \"cuda_runtime\": %d,\n",
      prop.name, prop.multiProcessorCount, driver, runtime);
  std::printf("  \"n\": %lld,\n  \"steps\": %d,\n  \"warmup\": %d,\n", static_cast<long long>(o.n), o.steps,
              o.warmup);
  std::printf("  \"copy\": {\"bytes\": %zu, \"ms\": %.4f, \"bandwidth_GBps\": %.1f},\n", copy_bytes, copy_ms,
              copy_bw / 1e9);
  std::printf("  \"results\": [\n");
  for (std::size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    std::printf("    {\"optimizer\": \"%s\", \"dtype\": \"%s\", \"bytes_per_param\": %.4f, ",
                r.optimizer.c_str(), r.dtype.c_str(), r.bytes_per_param);
    if (r.skipped) {
      std::printf("\"skipped\": true, \"reason\": \"%s\"}", r.reason.c_str());
    } else {
      const double achieved = r.bytes_per_param * static_cast<double>(o.n) / (r.ms * 1e-3) / 1e9;
      std::printf("\"ms\": %.4f, \"floor_ms\": %.4f, \"ratio\": %.3f, \"achieved_GBps\": %.1f}", r.ms,
                  r.floor_ms, r.ms / r.floor_ms, achieved);
    }
    std::printf("%s\n", i + 1 < results.size() ? "," : "");
  }
  std::printf("  ]\n}\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "optiscope_optimizer_bench: %s\n", e.what());
    return 1;
  }
}
