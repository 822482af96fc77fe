// The optimizers of core/optim on the GPU, through their public interface: the same bits for
// device, paged (with and without a budget that forces eviction) and offloaded state; the CUDA
// path against the CPU one; state files; the managed-memory refusal; pinned bytes reported.
// Every test skips itself, loudly, without a CUDA device.
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdio>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "optim/blockwise_adamw.h"
#include "optim/optimizer.h"
#include "optim/page_manager.h"

using namespace optiscope::optim;

namespace {

#define REQUIRE_CUDA()                                                                               \
  do {                                                                                               \
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device: GPU optimizer tests skipped"; \
  } while (0)

// 8-bit and paged (>= 1e5 elements, not a multiple of 256), 8-bit on the device, fp32 state.
std::vector<torch::Tensor> fresh_params(torch::Device device, torch::ScalarType dtype, std::uint64_t seed) {
  torch::manual_seed(seed);
  std::vector<torch::Tensor> ps = {torch::randn({300001}) * 0.1, torch::randn({512, 256}) * 0.1,
                                   torch::randn({5000}) * 0.1, torch::randn({100}) * 0.1};
  for (auto& p : ps) p = p.to(dtype).to(device).set_requires_grad(true);
  return ps;
}

std::vector<torch::Tensor> copies(const std::vector<torch::Tensor>& ps, torch::Device device) {
  std::vector<torch::Tensor> out;
  for (const auto& p : ps) out.push_back(p.detach().to(device).clone().set_requires_grad(true));
  return out;
}

// Gradients drawn on the CPU so every device sees the same numbers. With non_finite, one step in
// 7 carries a NaN and an Inf (8-bit only: the 32-bit update, like bitsandbytes', lets a NaN
// through, and NaN != NaN would fail the comparisons).
void set_grads(std::vector<torch::Tensor>& ps, int step, bool non_finite) {
  torch::manual_seed(1000 + static_cast<std::uint64_t>(step));
  for (auto& p : ps) {
    auto g = torch::randn(p.sizes()) * 0.01;
    if (non_finite && step % 7 == 3) {
      g.view(-1)[17] = std::numeric_limits<float>::quiet_NaN();
      g.view(-1)[p.numel() - 1] = std::numeric_limits<float>::infinity();
    }
    p.mutable_grad() = g.to(p.scalar_type()).to(p.device());
  }
}

void run_steps(Optimizer& opt, std::vector<torch::Tensor>& ps, int from, int to, bool non_finite = false) {
  for (int step = from; step < to; ++step) {
    set_grads(ps, step, non_finite);
    opt.step();
  }
}

// Bit-for-bit, with NaN equal to NaN: the 8-bit variants keep tensors under 4096 elements on the
// 32-bit path, which (like bitsandbytes') lets a NaN gradient into the parameter on both sides.
bool same_bits(const torch::Tensor& x, const torch::Tensor& y) {
  const auto a = x.cpu();
  const auto b = y.cpu();
  if (a.sizes() != b.sizes() || a.scalar_type() != b.scalar_type()) return false;
  if (!a.is_floating_point()) return torch::equal(a, b);
  const auto nan_a = a.isnan();
  if (!torch::equal(nan_a, b.isnan())) return false;
  return torch::equal(a.masked_fill(nan_a, 0), b.masked_fill(nan_a, 0));
}

void expect_same(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b,
                 const std::string& what) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(same_bits(a[i], b[i])) << what << ": param " << i << " differs";
}

void expect_same_moments(const BlockwiseAdamW& a, const BlockwiseAdamW& b, std::size_t n,
                         const std::string& what) {
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_TRUE(same_bits(a.first_moment(i), b.first_moment(i))) << what << ": m of param " << i;
    EXPECT_TRUE(same_bits(a.second_moment(i), b.second_moment(i))) << what << ": v of param " << i;
  }
}

using Case = std::tuple<StateBits, torch::ScalarType>;

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return std::string(std::get<0>(info.param) == StateBits::b8 ? "b8" : "b32") +
         (std::get<1>(info.param) == torch::kFloat32 ? "_f32" : "_bf16");
}

class GpuPlacements : public ::testing::TestWithParam<Case> {};

TEST_P(GpuPlacements, CudaMatchesCpuBitForBit) {
  REQUIRE_CUDA();
  const auto [bits, dtype] = GetParam();
  auto cpu = fresh_params(torch::kCPU, dtype, 1);
  auto gpu = copies(cpu, torch::kCUDA);
  OptimizerOptions o;
  o.weight_decay = 0.01;
  BlockwiseAdamW on_cpu(cpu, o, bits, Placement::device);
  BlockwiseAdamW on_gpu(gpu, o, bits, Placement::device);
  run_steps(on_cpu, cpu, 1, 12, bits == StateBits::b8);
  run_steps(on_gpu, gpu, 1, 12, bits == StateBits::b8);
  expect_same(cpu, gpu, "cpu vs cuda");
  expect_same_moments(on_cpu, on_gpu, cpu.size(), "cpu vs cuda");
}

TEST_P(GpuPlacements, PagedMatchesDevice) {
  REQUIRE_CUDA();
  const auto [bits, dtype] = GetParam();
  auto a = fresh_params(torch::kCUDA, dtype, 2);
  auto b = copies(a, torch::kCUDA);
  BlockwiseAdamW device(a, OptimizerOptions{}, bits, Placement::device);
  BlockwiseAdamW paged(b, OptimizerOptions{}, bits, Placement::paged);
  EXPECT_EQ(paged.placement_of(0), Placement::paged);
  EXPECT_EQ(paged.placement_of(2), Placement::device) << "below 1e5 elements state stays on the device";
  EXPECT_GT(paged.state_bytes().managed, 0);
  run_steps(device, a, 1, 12, bits == StateBits::b8);
  run_steps(paged, b, 1, 12, bits == StateBits::b8);
  expect_same(a, b, "paged");
  expect_same_moments(device, paged, a.size(), "paged");
}

TEST_P(GpuPlacements, PagedUnderABudgetEvictsAndStillMatches) {
  REQUIRE_CUDA();
  const auto [bits, dtype] = GetParam();
  auto a = fresh_params(torch::kCUDA, dtype, 3);
  auto b = copies(a, torch::kCUDA);
  BlockwiseAdamW device(a, OptimizerOptions{}, bits, Placement::device);
  BlockwiseAdamW paged(b, OptimizerOptions{}, bits, Placement::paged);
  auto& pm = PageManager::for_device(0);
  const auto reserved =
      c10::cuda::CUDACachingAllocator::getDeviceStats(0)
          .reserved_bytes[static_cast<std::size_t>(c10::CachingAllocator::StatType::AGGREGATE)]
          .current;
  // Room for the largest paged tensor only: the two alternate, each step evicts the other.
  pm.set_budget(reserved + (bits == StateBits::b8 ? 2 : 8) * 300001 + 4096);
  const auto before = pm.counters();
  run_steps(device, a, 1, 8, bits == StateBits::b8);
  run_steps(paged, b, 1, 8, bits == StateBits::b8);
  torch::cuda::synchronize();
  const auto after = pm.counters();
  pm.set_budget(0);
  EXPECT_GT(after.evicted_to_host, before.evicted_to_host) << "the budget forced no eviction";
  EXPECT_GT(after.prefetched_to_device, before.prefetched_to_device);
  expect_same(a, b, "paged under budget");
  expect_same_moments(device, paged, a.size(), "paged under budget");
}

TEST_P(GpuPlacements, OffloadMatchesDeviceAcrossChunkSizes) {
  REQUIRE_CUDA();
  const auto [bits, dtype] = GetParam();
  // Chunks of 64 KiB split every tensor (and leave partial chunks); 32 MiB is the default.
  const std::vector<std::pair<std::int64_t, int>> configs = {
      {64 << 10, 2}, {64 << 10, 3}, {1 << 20, 3}, {32 << 20, 3}};
  for (const auto& [chunk, slots] : configs) {
    auto a = fresh_params(torch::kCUDA, dtype, 4);
    auto b = copies(a, torch::kCUDA);
    OptimizerOptions o;
    o.weight_decay = 0.01;
    o.offload_chunk_bytes = chunk;
    o.offload_slots = slots;
    BlockwiseAdamW device(a, o, bits, Placement::device);
    BlockwiseAdamW offload(b, o, bits, Placement::offload);
    EXPECT_EQ(offload.placement_of(0), Placement::offload);
    EXPECT_EQ(offload.placement_of(3), Placement::device);
    const std::int64_t per = bits == StateBits::b8 ? 2 : 8;
    EXPECT_EQ(offload.state_bytes().host, per * (300001 + 512 * 256)) << "pinned bytes: both moments";
    run_steps(device, a, 1, 10, bits == StateBits::b8);
    run_steps(offload, b, 1, 10, bits == StateBits::b8);
    const std::string what = "offload chunk " + std::to_string(chunk) + " slots " + std::to_string(slots);
    expect_same(a, b, what);
    expect_same_moments(device, offload, a.size(), what);
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, GpuPlacements,
                         ::testing::Combine(::testing::Values(StateBits::b32, StateBits::b8),
                                            ::testing::Values(torch::kFloat32, torch::kBFloat16)),
                         case_name);

TEST(GpuOffload, StagingIsReportedAsDeviceState) {
  REQUIRE_CUDA();
  auto ps = fresh_params(torch::kCUDA, torch::kFloat32, 5);
  OptimizerOptions o;
  o.offload_chunk_bytes = 1 << 20;
  BlockwiseAdamW offload(ps, o, StateBits::b32, Placement::offload);
  const auto before = offload.state_bytes().device;
  run_steps(offload, ps, 1, 2);
  EXPECT_EQ(offload.state_bytes().device - before, 3 * 2 * (1 << 20)) << "three slots of two moments";
}

TEST(GpuBlockwise, SmallTensorsKeep32BitState) {
  REQUIRE_CUDA();
  for (const auto placement : {Placement::device, Placement::paged, Placement::offload}) {
    BlockwiseAdamW opt(fresh_params(torch::kCUDA, torch::kFloat32, 6), OptimizerOptions{}, StateBits::b8,
                       placement);
    EXPECT_TRUE(opt.is_8bit(0));
    EXPECT_TRUE(opt.is_8bit(2)) << "5000 elements";
    EXPECT_FALSE(opt.is_8bit(3)) << "100 elements stay fp32";
  }
}

TEST(GpuPageManager, RefusesMoreManagedMemoryThanIsFree) {
  REQUIRE_CUDA();
  std::size_t free_bytes = 0;
  std::size_t total = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_bytes, &total), cudaSuccess);
  auto& pm = PageManager::for_device(0);
  const auto before = pm.counters();
  // The check runs before cudaMallocManaged, so asking for too much allocates nothing.
  EXPECT_THROW(pm.allocate(free_bytes + (std::size_t{1} << 30), nullptr), ManagedMemoryRefused);
  EXPECT_THROW(pm.allocate(total * 2, nullptr), ManagedMemoryRefused);
  EXPECT_EQ(pm.counters().managed_bytes, before.managed_bytes);
}

// The emulated card's driver: when LibTorch's allocator maps a new segment under a budget, the page
// manager evicts paged state at once so that reserved + resident stays within the budget (the
// block being updated last).
TEST(GpuPageManager, AllocatorGrowthEvictsPagedState) {
  REQUIRE_CUDA();
  constexpr std::int64_t kMiB = 1 << 20;
  const auto reserved = [] {
    return c10::cuda::CUDACachingAllocator::getDeviceStats(0)
        .reserved_bytes[static_cast<std::size_t>(c10::CachingAllocator::StatType::AGGREGATE)]
        .current;
  };
  c10::cuda::CUDACachingAllocator::emptyCache();
  auto& pm = PageManager::for_device(0);
  const std::int64_t budget = reserved() + 300 * kMiB;
  pm.set_budget(budget);
  void* stream = c10::cuda::getCurrentCUDAStream().stream();
  void* first = pm.allocate(64 * kMiB, stream);
  void* second = pm.allocate(64 * kMiB, stream);
  pm.prefetch_for_use(first, stream);
  pm.prefetch_for_use(second, stream);
  const auto before = pm.counters();
  EXPECT_EQ(before.resident_bytes, 128 * kMiB) << "room for both before the allocator grows";
  // 200 MiB more reserved leaves room for 100: one block must go, and the one in use stays.
  {
    auto grown = torch::empty({200 * kMiB}, torch::TensorOptions().dtype(torch::kUInt8).device(torch::kCUDA));
    torch::cuda::synchronize();
    const auto after = pm.counters();
    std::printf("[ info ] allocator grew %lld MiB; paged resident %lld -> %lld MiB under a %lld MiB room\n",
                static_cast<long long>((reserved() - budget + 300 * kMiB) / kMiB),
                static_cast<long long>(before.resident_bytes / kMiB),
                static_cast<long long>(after.resident_bytes / kMiB), static_cast<long long>(300));
    EXPECT_GE(reserved() - (budget - 300 * kMiB), 200 * kMiB);
    EXPECT_EQ(after.resident_bytes, 64 * kMiB) << "the first block out; the block in use stays";
    EXPECT_EQ(after.evicted_to_host - before.evicted_to_host, 64 * kMiB);
    pm.use_queued(second);
    pm.prefetch_for_use(first, stream);  // the next update: the block used before it makes room
    EXPECT_LE(reserved() + pm.counters().resident_bytes, budget) << "reserved + resident within the budget";
  }
  pm.set_budget(0);
  pm.release(first);
  pm.release(second);
}

class GpuStateFile : public ::testing::TestWithParam<std::tuple<std::string, torch::ScalarType>> {};

TEST_P(GpuStateFile, ContinuesIdentically) {
  REQUIRE_CUDA();
  const auto& [name, dtype] = GetParam();
  OptimizerOptions o;
  o.weight_decay = 0.01;
  o.offload_chunk_bytes = 256 << 10;
  auto straight = fresh_params(torch::kCUDA, dtype, 7);
  auto straight_opt = make_optimizer(name, straight, o);
  run_steps(*straight_opt, straight, 1, 5);
  // The process id: ctest may run the f32 and bf16 cases of a variant at once.
  const std::string path =
      ::testing::TempDir() + "optiscope_gpu_" + name + "_" + std::to_string(::getpid()) + ".safetensors";
  straight_opt->save(path);
  auto resumed = copies(straight, torch::kCUDA);
  auto resumed_opt = make_optimizer(name, resumed, o);
  resumed_opt->load(path);
  run_steps(*straight_opt, straight, 5, 11);
  run_steps(*resumed_opt, resumed, 5, 11);
  expect_same(straight, resumed, name + " resumed");
  std::remove(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(Variants, GpuStateFile,
                         ::testing::Combine(::testing::Values("adamw_torch", "adamw_torch_fused",
                                                              "adamw_32bit", "adamw_8bit",
                                                              "paged_adamw_32bit", "paged_adamw_8bit",
                                                              "offload_adamw_32bit", "offload_adamw_8bit"),
                                            ::testing::Values(torch::kFloat32, torch::kBFloat16)),
                         [](const auto& p) {
                           return std::get<0>(p.param) +
                                  (std::get<1>(p.param) == torch::kFloat32 ? "_f32" : "_bf16");
                         });

TEST(GpuStateFileCross, CpuFileResumesOnTheGpuAndPlacementsShareFiles) {
  REQUIRE_CUDA();
  // Saved from device state, loaded into offloaded and paged state: the same continuation.
  auto a = fresh_params(torch::kCUDA, torch::kBFloat16, 8);
  auto plain = make_optimizer("adamw_8bit", a, OptimizerOptions{});
  run_steps(*plain, a, 1, 4);
  const std::string path =
      ::testing::TempDir() + "optiscope_gpu_cross_" + std::to_string(::getpid()) + ".safetensors";
  plain->save(path);
  auto b = copies(a, torch::kCUDA);
  auto c = copies(a, torch::kCUDA);
  auto offload = make_optimizer("offload_adamw_8bit", b, OptimizerOptions{});
  auto paged = make_optimizer("paged_adamw_8bit", c, OptimizerOptions{});
  offload->load(path);
  paged->load(path);
  run_steps(*plain, a, 4, 9);
  run_steps(*offload, b, 4, 9);
  run_steps(*paged, c, 4, 9);
  expect_same(a, b, "offload from adamw_8bit's file");
  expect_same(a, c, "paged from adamw_8bit's file");
  std::remove(path.c_str());
}

}  // namespace
