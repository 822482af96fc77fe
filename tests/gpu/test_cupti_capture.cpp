// GPU tests of CuptiCapture against real unified-memory traffic. Skips (visibly) without a device.
//
// Exact checks: prefetch migrations, memcpys and kernel records (DESIGN.md: recorded to the byte).
// Reported, never failed: completeness of fault-driven migrations, which CUPTI under-records for
// GPU faults on the H100 (DESIGN.md, trap 2). Safety: managed allocations stay far below the free
// device memory (DESIGN.md safety rule); clocks and device modes are never touched.
#include <cuda.h>
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "probes/cupti_capture.h"

namespace op = optiscope::probes;

namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;
constexpr std::size_t kPage = 4096;

// Touches one byte per `stride` bytes. PTX, JIT-compiled by the driver, so that this test builds as
// plain C++ without nvcc; verified here with `ptxas -arch=sm_90`.
constexpr char kTouchPtx[] = R"(
.version 8.0
.target sm_75
.address_size 64

.visible .entry optiscope_touch_pages(
    .param .u64 base,
    .param .u64 pages,
    .param .u64 stride)
{
  .reg .pred %p<2>;
  .reg .b16 %rs<3>;
  .reg .b32 %r<4>;
  .reg .b64 %rd<9>;

  ld.param.u64 %rd1, [base];
  ld.param.u64 %rd2, [pages];
  ld.param.u64 %rd3, [stride];
  mov.u32 %r1, %ctaid.x;
  mov.u32 %r2, %ntid.x;
  mov.u32 %r3, %tid.x;
  mul.wide.u32 %rd4, %r1, %r2;
  cvt.u64.u32 %rd5, %r3;
  add.s64 %rd4, %rd4, %rd5;
  setp.ge.u64 %p1, %rd4, %rd2;
  @%p1 bra DONE;
  cvta.to.global.u64 %rd6, %rd1;
  mul.lo.s64 %rd7, %rd4, %rd3;
  add.s64 %rd8, %rd6, %rd7;
  ld.global.u8 %rs1, [%rd8];
  add.s16 %rs2, %rs1, 1;
  st.global.u8 [%rd8], %rs2;
DONE:
  ret;
}
)";

// Driver entry points fetched through the runtime, so the binary does not link libcuda and still
// starts (and skips) on machines without a driver.
using ModuleLoadDataFn = CUresult (*)(CUmodule*, const void*);
using ModuleGetFunctionFn = CUresult (*)(CUfunction*, CUmodule, const char*);
using LaunchKernelFn = CUresult (*)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                                    unsigned, CUstream, void**, void**);

template <typename Fn>
Fn driver_entry(const char* name) {
  void* fn = nullptr;
  cudaDriverEntryPointQueryResult status{};
  if (cudaGetDriverEntryPointByVersion(name, &fn, CUDART_VERSION, cudaEnableDefault, &status) !=
          cudaSuccess ||
      status != cudaDriverEntryPointSuccess) {
    return nullptr;
  }
  return reinterpret_cast<Fn>(fn);
}

// Launches optiscope_touch_pages over [base, base + bytes); returns an error text or "".
std::string touch_from_gpu(std::uint8_t* base, std::size_t bytes) {
  static CUfunction function = nullptr;
  static auto launch = driver_entry<LaunchKernelFn>("cuLaunchKernel");
  if (function == nullptr) {
    auto load = driver_entry<ModuleLoadDataFn>("cuModuleLoadData");
    auto get = driver_entry<ModuleGetFunctionFn>("cuModuleGetFunction");
    if (load == nullptr || get == nullptr || launch == nullptr) return "driver entry points not found";
    CUmodule module = nullptr;
    if (const CUresult r = load(&module, kTouchPtx); r != CUDA_SUCCESS) {
      return "cuModuleLoadData failed: " + std::to_string(r);
    }
    if (const CUresult r = get(&function, module, "optiscope_touch_pages"); r != CUDA_SUCCESS) {
      return "cuModuleGetFunction failed: " + std::to_string(r);
    }
  }
  unsigned long long base_arg = reinterpret_cast<std::uintptr_t>(base);
  unsigned long long pages = bytes / kPage;
  unsigned long long stride = kPage;
  void* args[] = {&base_arg, &pages, &stride};
  const unsigned threads = 256;
  const auto blocks = static_cast<unsigned>((pages + threads - 1) / threads);
  if (const CUresult r = launch(function, blocks, 1, 1, threads, 1, 1, 0, nullptr, args, nullptr);
      r != CUDA_SUCCESS) {
    return "cuLaunchKernel failed: " + std::to_string(r);
  }
  return "";
}

void check_cuda(cudaError_t e, const char* what) {
  ASSERT_EQ(e, cudaSuccess) << what << ": " << cudaGetErrorString(e);
}

// Flushes and collects until `done` holds or `timeout` passes: unified-memory records come from a
// CUPTI thread after the copy finished, sometimes after the first flush.
op::CapturedEvents collect(op::CuptiCapture& capture,
                           const std::function<bool(const op::CapturedEvents&)>& done,
                           std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) {
  op::CapturedEvents all;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    capture.flush();
    all.append(capture.take_events());
    if (done(all) || std::chrono::steady_clock::now() >= deadline) return all;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

op::UmTransferTotals totals_in(const op::CapturedEvents& ev, const std::uint8_t* p, std::size_t bytes) {
  const auto lo = reinterpret_cast<std::uintptr_t>(p);
  return op::summarize_transfers(ev.unified_memory, lo, lo + bytes);
}

std::string causes(const std::array<std::uint64_t, 6>& by_cause) {
  std::string s;
  for (std::size_t i = 0; i < by_cause.size(); ++i) {
    if (by_cause[i] == 0) continue;
    if (!s.empty()) s += ", ";
    s += std::string(op::to_string(static_cast<op::UmMigrationCause>(i))) + " " +
         std::to_string(by_cause[i] / kMiB) + " MiB";
  }
  return s.empty() ? "none" : s;
}

void report(const char* what, std::uint64_t recorded, std::uint64_t moved) {
  std::printf("[completeness] %s: recorded %.1f MiB of %.1f MiB moved (%.1f%%)\n", what,
              static_cast<double>(recorded) / kMiB, static_cast<double>(moved) / kMiB,
              moved == 0 ? 0.0 : 100.0 * static_cast<double>(recorded) / static_cast<double>(moved));
}

int current_device() {
  int device = 0;
  (void)cudaGetDevice(&device);
  return device;
}

class CuptiCaptureGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
      (void)cudaGetLastError();
      GTEST_SKIP() << "no CUDA device: the CUPTI capture tests need a GPU";
    }
    const op::CaptureCapability probed = op::CuptiCapture::probe();
    std::printf("probe: um=%d kernels=%d memcpy=%d cupti=%u note='%s'\n", probed.um_counters, probed.kernels,
                probed.memcpy, probed.cupti_version, probed.note.c_str());
  }

  // Starts the capture; skips the test when the part it needs is unavailable here.
  bool start(bool need_um) {
    cap_ = capture_.start();
    std::printf("start: um=%d (kinds 0x%x) kernels=%d memcpy=%d note='%s'\n", cap_.um_counters,
                cap_.um_counter_kinds, cap_.kernels, cap_.memcpy, cap_.note.c_str());
    return need_um ? cap_.um_counters : cap_.kernels && cap_.memcpy;
  }

  // Managed bytes we may allocate: a quarter of what is free, so the test never oversubscribes.
  static bool fits(std::size_t bytes) {
    std::size_t free = 0;
    std::size_t total = 0;
    if (cudaMemGetInfo(&free, &total) != cudaSuccess) return false;
    return bytes <= free / 4;
  }

  void TearDown() override {
    capture_.stop();
    if (IsSkipped()) return;
    const op::CaptureStats s = capture_.stats();
    std::printf(
        "stats: buffers=%llu dropped=%llu declined=%llu invalid_ts=%llu decoded=%llu skipped=%llu "
        "unknown=%llu truncated=%llu layout_mismatches=%llu\n",
        static_cast<unsigned long long>(s.buffers), static_cast<unsigned long long>(s.dropped_records),
        static_cast<unsigned long long>(s.buffer_requests_declined),
        static_cast<unsigned long long>(s.invalid_timestamps),
        static_cast<unsigned long long>(s.decode.records_decoded),
        static_cast<unsigned long long>(s.decode.records_skipped),
        static_cast<unsigned long long>(s.decode.unknown_kinds),
        static_cast<unsigned long long>(s.decode.truncated_buffers),
        static_cast<unsigned long long>(s.decode.layout_mismatches));
    EXPECT_EQ(s.decode.layout_mismatches, 0u) << "CUPTI library and headers disagree on record sizes";
    EXPECT_EQ(s.decode.truncated_buffers, 0u);
  }

  op::CuptiCapture capture_;
  op::CaptureCapability cap_;
};

class PrefetchSizes : public CuptiCaptureGpu, public ::testing::WithParamInterface<std::size_t> {};

TEST_P(PrefetchSizes, PrefetchMigrationsAreRecordedToTheByteAndLandInTheirStep) {
  const std::size_t bytes = GetParam() * kMiB;
  if (!fits(bytes)) GTEST_SKIP() << bytes / kMiB << " MiB is more than a quarter of the free device memory";
  if (!start(true)) GTEST_SKIP() << "unified-memory counters unavailable: " << cap_.note;

  void* raw = nullptr;
  check_cuda(cudaMallocManaged(&raw, bytes), "cudaMallocManaged");
  auto* p = static_cast<std::uint8_t*>(raw);
  if (HasFatalFailure()) return;
  std::memset(p, 1, bytes);  // populate on the host first, so the prefetch really moves every byte
  (void)collect(
      capture_, [](const op::CapturedEvents&) { return false; }, std::chrono::milliseconds(100));

  const int device = current_device();
  const cudaMemLocation to_device{cudaMemLocationTypeDevice, device};
  const cudaMemLocation to_host{cudaMemLocationTypeHost, 0};

  const std::uint64_t s0 = op::CuptiCapture::now_ns();
  check_cuda(cudaMemPrefetchAsync(p, bytes, to_device, 0, nullptr), "prefetch to device");
  check_cuda(cudaDeviceSynchronize(), "sync");
  const std::uint64_t s1 = op::CuptiCapture::now_ns();
  check_cuda(cudaMemPrefetchAsync(p, bytes, to_host, 0, nullptr), "prefetch to host");
  check_cuda(cudaDeviceSynchronize(), "sync");
  const std::uint64_t s2 = op::CuptiCapture::now_ns();

  const op::CapturedEvents ev = collect(capture_, [&](const op::CapturedEvents& e) {
    const auto t = totals_in(e, p, bytes);
    return t.htod >= bytes && t.dtoh >= bytes;
  });
  const op::UmTransferTotals t = totals_in(ev, p, bytes);
  report("prefetch HtoD", t.htod, bytes);
  report("prefetch DtoH", t.dtoh, bytes);
  std::printf("  HtoD causes: %s; DtoH causes: %s; %llu transfer records\n", causes(t.htod_by_cause).c_str(),
              causes(t.dtoh_by_cause).c_str(), static_cast<unsigned long long>(t.transfer_records));
  EXPECT_EQ(t.htod, bytes);
  EXPECT_EQ(t.dtoh, bytes);
  EXPECT_EQ(t.htod_by_cause[static_cast<int>(op::UmMigrationCause::user)], bytes);
  EXPECT_EQ(t.dtoh_by_cause[static_cast<int>(op::UmMigrationCause::user)], bytes);

  // Assignment by timestamp: each direction falls in the step that issued it.
  const std::vector<std::uint64_t> boundaries = {s0, s1, s2};
  const auto steps = op::assign_to_steps(ev.unified_memory, boundaries);
  std::uint64_t htod_in_step0 = 0;
  std::uint64_t dtoh_in_step1 = 0;
  const auto lo = reinterpret_cast<std::uintptr_t>(p);
  for (std::size_t i = 0; i < ev.unified_memory.size(); ++i) {
    const op::UnifiedMemoryEvent& e = ev.unified_memory[i];
    if (e.address < lo || e.address >= lo + bytes) continue;
    if (e.kind == op::UmEventKind::bytes_htod && steps[i] == 0) htod_in_step0 += e.value;
    if (e.kind == op::UmEventKind::bytes_dtoh && steps[i] == 1) dtoh_in_step1 += e.value;
  }
  EXPECT_EQ(htod_in_step0, bytes) << "HtoD migrations stamped outside [s0, s1)";
  EXPECT_EQ(dtoh_in_step1, bytes) << "DtoH migrations stamped outside [s1, s2)";

  check_cuda(cudaFree(p), "cudaFree");
}

INSTANTIATE_TEST_SUITE_P(MiB, PrefetchSizes, ::testing::Values(std::size_t{64}, std::size_t{256}));

class FaultSizes : public CuptiCaptureGpu, public ::testing::WithParamInterface<std::size_t> {};

TEST_P(FaultSizes, FaultDrivenMigrationCompletenessIsReported) {
  const std::size_t bytes = GetParam() * kMiB;
  if (!fits(bytes)) GTEST_SKIP() << bytes / kMiB << " MiB is more than a quarter of the free device memory";
  if (!start(true)) GTEST_SKIP() << "unified-memory counters unavailable: " << cap_.note;

  void* raw = nullptr;
  check_cuda(cudaMallocManaged(&raw, bytes), "cudaMallocManaged");
  auto* p = static_cast<std::uint8_t*>(raw);
  if (HasFatalFailure()) return;
  std::memset(p, 1, bytes);
  const int device = current_device();
  check_cuda(cudaMemPrefetchAsync(p, bytes, cudaMemLocation{cudaMemLocationTypeDevice, device}, 0, nullptr),
             "prefetch to device");
  check_cuda(cudaDeviceSynchronize(), "sync");
  (void)collect(capture_, [&](const op::CapturedEvents& e) { return totals_in(e, p, bytes).htod >= bytes; });

  // CPU touch: every page faults on the host and migrates back (cause: coherence).
  for (std::size_t off = 0; off < bytes; off += kPage) p[off] = static_cast<std::uint8_t>(p[off] + 1);
  const op::CapturedEvents cpu =
      collect(capture_, [&](const op::CapturedEvents& e) { return totals_in(e, p, bytes).dtoh >= bytes; });
  const op::UmTransferTotals tc = totals_in(cpu, p, bytes);
  report("CPU-fault DtoH", tc.dtoh, bytes);
  std::printf("  causes: %s; CPU fault records: %llu\n", causes(tc.dtoh_by_cause).c_str(),
              static_cast<unsigned long long>(tc.cpu_faults));
  for (const op::UnifiedMemoryEvent& e : cpu.unified_memory) {
    if (e.kind != op::UmEventKind::cpu_page_fault) continue;
    EXPECT_EQ(e.value, 0u) << "a CPU fault's value is a PC and must not be kept as a count";
  }

  // GPU touch: the data is on the host now; every page faults on the device.
  const std::uint64_t before = op::CuptiCapture::now_ns();
  const std::string launch_error = touch_from_gpu(p, bytes);
  ASSERT_EQ(launch_error, "");
  check_cuda(cudaDeviceSynchronize(), "sync after touch kernel");
  const std::uint64_t after = op::CuptiCapture::now_ns();
  const op::CapturedEvents gpu = collect(capture_, [&](const op::CapturedEvents& e) {
    return totals_in(e, p, bytes).htod >= bytes && !e.kernels.empty();
  });
  const op::UmTransferTotals tg = totals_in(gpu, p, bytes);
  report("GPU-fault HtoD", tg.htod, bytes);
  std::printf("  causes: %s; GPU fault groups: %llu (known gap: DESIGN.md trap 2, not a failure)\n",
              causes(tg.htod_by_cause).c_str(), static_cast<unsigned long long>(tg.gpu_fault_groups));

  // The kernel itself must be recorded, inside the host-side bracket.
  const op::KernelEvent* touch = nullptr;
  for (const op::KernelEvent& k : gpu.kernels) {
    if (k.name == "optiscope_touch_pages") touch = &k;
  }
  if (cap_.kernels) {
    ASSERT_NE(touch, nullptr) << "the touch kernel was not recorded";
    EXPECT_TRUE(touch->timestamps_valid);
    EXPECT_GE(touch->start_ns, before);
    EXPECT_LE(touch->end_ns, after);
    EXPECT_EQ(touch->block[0], 256);
    const std::vector<std::uint64_t> boundaries = {before, after};
    EXPECT_EQ(op::step_of(touch->start_ns, boundaries), 0);
    std::printf("  touch kernel: %.3f ms\n", static_cast<double>(touch->end_ns - touch->start_ns) / 1e6);
  }

  check_cuda(cudaFree(p), "cudaFree");
}

INSTANTIATE_TEST_SUITE_P(MiB, FaultSizes, ::testing::Values(std::size_t{64}, std::size_t{256}));

TEST_F(CuptiCaptureGpu, MemcpysAreRecordedWithKindAndBytes) {
  if (!start(false)) GTEST_SKIP() << "kernel/memcpy capture unavailable: " << cap_.note;
  constexpr std::size_t kBytes = 8 * kMiB;
  void* host = nullptr;
  void* dev = nullptr;
  check_cuda(cudaMallocHost(&host, kBytes), "cudaMallocHost");
  check_cuda(cudaMalloc(&dev, kBytes), "cudaMalloc");
  if (HasFatalFailure()) return;
  check_cuda(cudaMemcpy(dev, host, kBytes, cudaMemcpyHostToDevice), "HtoD");
  check_cuda(cudaMemcpy(host, dev, kBytes, cudaMemcpyDeviceToHost), "DtoH");
  const op::CapturedEvents ev =
      collect(capture_, [](const op::CapturedEvents& e) { return e.memcpys.size() >= 2; });
  std::uint64_t htod = 0;
  std::uint64_t dtoh = 0;
  for (const op::MemcpyEvent& m : ev.memcpys) {
    if (m.kind == op::MemcpyKind::htod && m.bytes == kBytes) {
      ++htod;
      EXPECT_EQ(m.src_kind, op::MemoryKind::pinned);
      EXPECT_EQ(m.dst_kind, op::MemoryKind::device);
      EXPECT_TRUE(m.timestamps_valid);
    }
    if (m.kind == op::MemcpyKind::dtoh && m.bytes == kBytes) ++dtoh;
  }
  EXPECT_EQ(htod, 1u);
  EXPECT_EQ(dtoh, 1u);
  check_cuda(cudaFree(dev), "cudaFree");
  check_cuda(cudaFreeHost(host), "cudaFreeHost");
}

TEST_F(CuptiCaptureGpu, OneSessionPerProcessAndRestartable) {
  if (!start(false)) GTEST_SKIP() << "capture unavailable: " << cap_.note;
  op::CuptiCapture second;
  const op::CaptureCapability refused = second.start();
  EXPECT_FALSE(refused.kernels || refused.memcpy || refused.um_counters);
  EXPECT_NE(refused.note.find("another CuptiCapture"), std::string::npos) << refused.note;
  second.stop();  // must not disturb the running session
  EXPECT_TRUE(capture_.running());

  capture_.stop();
  EXPECT_FALSE(capture_.running());
  const op::CaptureCapability again = second.start();
  EXPECT_TRUE(again.kernels) << again.note;
  second.stop();
  const op::CaptureCapability third = capture_.start();
  EXPECT_TRUE(third.kernels) << third.note;
}

TEST_F(CuptiCaptureGpu, ClockOffsetMatchesSteadyClock) {
  (void)start(false);
  const auto steady_ns = [] {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
  };
  const std::uint64_t a = steady_ns();
  const std::uint64_t converted = capture_.to_steady_ns(op::CuptiCapture::now_ns());
  const std::uint64_t b = steady_ns();
  EXPECT_GE(converted + 1'000'000, a);
  EXPECT_LE(converted, b + 1'000'000);
}

}  // namespace
