#include <gtest/gtest.h>
#include <torch/torch.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "optim/blockwise_adamw.h"
#include "optim/optimizer.h"
#include "optim/page_manager.h"
#include "spec/run_spec.h"

using namespace optiscope::optim;

namespace {

std::vector<torch::Tensor> params_with_grads(std::uint64_t seed) {
  torch::manual_seed(seed);
  std::vector<torch::Tensor> ps = {torch::randn({64, 128}), torch::randn({100}), torch::randn({4096})};
  for (auto& p : ps) {
    p.set_requires_grad(true);
    p.mutable_grad() = torch::randn_like(p) * 0.01;
  }
  return ps;
}

}  // namespace

TEST(BlockwiseAdamW, SmallTensorsKeep32BitState) {
  BlockwiseAdamW opt(params_with_grads(1), OptimizerOptions{}, StateBits::b8, false);
  EXPECT_TRUE(opt.is_8bit(0)) << "8192 elements";
  EXPECT_FALSE(opt.is_8bit(1)) << "100 elements stay fp32";
  EXPECT_TRUE(opt.is_8bit(2)) << "4096 is not below the threshold";
  const auto b = opt.state_bytes();
  EXPECT_EQ(b.device, 2 * 8192 + 2 * 4 * 32 + 2 * 4 * 100 + 2 * 4096 + 2 * 4 * 16);
}

TEST(BlockwiseAdamW, PagedAndNonPagedGiveTheSameNumbersOnCpu) {
  auto a = params_with_grads(2);
  auto b = params_with_grads(2);
  BlockwiseAdamW plain(a, OptimizerOptions{}, StateBits::b8, false);
  BlockwiseAdamW paged(b, OptimizerOptions{}, StateBits::b8, true);
  for (int i = 0; i < 5; ++i) {
    plain.step();
    paged.step();
  }
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i]));
}

TEST(TorchAdamW, FusedAndForeachAgree) {
  auto a = params_with_grads(3);
  auto b = params_with_grads(3);
  OptimizerOptions o;
  o.weight_decay = 0.01;
  auto foreach_opt = make_optimizer("adamw_torch", a, o);
  auto fused_opt = make_optimizer("adamw_torch_fused", b, o);
  for (int i = 0; i < 5; ++i) {
    foreach_opt->step();
    fused_opt->step();
  }
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-5, 1e-6));
}

TEST(TorchAdamW, StateIsInTheParameterDtype) {
  auto ps = params_with_grads(4);
  for (auto& p : ps) {
    torch::NoGradGuard g;
    p = p.to(torch::kBFloat16).detach().requires_grad_(true);
    p.mutable_grad() = torch::ones_like(p);
  }
  auto opt = make_optimizer("adamw_torch", ps, OptimizerOptions{});
  std::int64_t n = 0;
  for (const auto& p : ps) n += p.numel();
  EXPECT_EQ(opt->state_bytes().device, 2 * 2 * n) << "two bf16 moments per parameter";
}

TEST(Optimizers, UnknownNameIsRejected) {
  EXPECT_THROW(make_optimizer("lion_42bit", params_with_grads(5), OptimizerOptions{}), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// Offload variants, state files and the managed-memory refusal (CPU side; tests/gpu has the
// device side).

namespace {

const std::vector<std::string> kAllVariants = {"adamw_torch",         "adamw_torch_fused", "adamw_32bit",
                                               "adamw_8bit",          "paged_adamw_32bit", "paged_adamw_8bit",
                                               "offload_adamw_32bit", "offload_adamw_8bit"};

// Shapes: 8-bit state, a tensor below min_8bit_size, a partial last block.
std::vector<torch::Tensor> fresh_params(torch::ScalarType dtype, std::uint64_t seed) {
  torch::manual_seed(seed);
  std::vector<torch::Tensor> ps = {torch::randn({64, 128}) * 0.1, torch::randn({100}) * 0.1,
                                   torch::randn({5000}) * 0.1};
  for (auto& p : ps) p = p.to(dtype).set_requires_grad(true);
  return ps;
}

std::vector<torch::Tensor> copies(const std::vector<torch::Tensor>& ps) {
  std::vector<torch::Tensor> out;
  for (const auto& p : ps) out.push_back(p.detach().clone().set_requires_grad(true));
  return out;
}

// The same gradients for every run at a given step.
void set_grads(std::vector<torch::Tensor>& ps, int step) {
  torch::manual_seed(1000 + static_cast<std::uint64_t>(step));
  for (auto& p : ps) p.mutable_grad() = (torch::randn(p.sizes()) * 0.01).to(p.scalar_type());
}

void run_steps(Optimizer& opt, std::vector<torch::Tensor>& ps, int from, int to) {
  for (int step = from; step < to; ++step) {
    set_grads(ps, step);
    opt.step();
  }
}

// ctest runs each test in its own process, in parallel: the process id keeps two tests that use
// one name (the f32 and bf16 cases of a variant) from writing the same file at once.
std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "optiscope_" + name + "_" + std::to_string(::getpid()) + ".safetensors";
}

}  // namespace

TEST(Optimizers, EveryKnownVariantIsMade) {
  for (const auto& name : optiscope::known_optimizers()) {
    auto opt = make_optimizer(name, fresh_params(torch::kFloat32, 6), OptimizerOptions{});
    EXPECT_EQ(opt->name(), name);
  }
}

TEST(OffloadAdamW, OnCpuIsItsTwinAndSaysSo) {
  for (const auto bits : {"32bit", "8bit"}) {
    auto a = fresh_params(torch::kFloat32, 7);
    auto b = copies(a);
    auto twin = make_optimizer(std::string("adamw_") + bits, a, OptimizerOptions{});
    auto offload = make_optimizer(std::string("offload_adamw_") + bits, b, OptimizerOptions{});
    EXPECT_TRUE(twin->note().empty());
    EXPECT_NE(offload->note().find("CUDA runs only"), std::string::npos) << offload->note();
    run_steps(*twin, a, 1, 6);
    run_steps(*offload, b, 1, 6);
    for (std::size_t i = 0; i < a.size(); ++i)
      EXPECT_TRUE(torch::equal(a[i], b[i])) << bits << " param " << i;
    EXPECT_EQ(offload->state_bytes().host, 0) << "nothing is pinned on a CPU run";
    EXPECT_EQ(offload->state_bytes().device, twin->state_bytes().device);
  }
}

// N steps, save, load into a fresh optimizer, M more steps == N + M steps straight, bit for bit.
class StateFileRoundTrip : public ::testing::TestWithParam<std::tuple<std::string, torch::ScalarType>> {};

TEST_P(StateFileRoundTrip, ContinuesIdentically) {
  const auto& [name, dtype] = GetParam();
  OptimizerOptions o;
  o.weight_decay = 0.01;
  auto straight = fresh_params(dtype, 8);
  auto straight_opt = make_optimizer(name, straight, o);
  run_steps(*straight_opt, straight, 1, 4);
  const std::string path = temp_path(name);
  straight_opt->save(path);

  auto resumed = copies(straight);
  auto resumed_opt = make_optimizer(name, resumed, o);
  resumed_opt->load(path);
  run_steps(*straight_opt, straight, 4, 9);
  run_steps(*resumed_opt, resumed, 4, 9);
  for (std::size_t i = 0; i < straight.size(); ++i)
    EXPECT_TRUE(torch::equal(straight[i], resumed[i])) << "param " << i;
  std::remove(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(Variants, StateFileRoundTrip,
                         ::testing::Combine(::testing::ValuesIn(kAllVariants),
                                            ::testing::Values(torch::kFloat32, torch::kBFloat16)),
                         [](const auto& p) {
                           return std::get<0>(p.param) +
                                  (std::get<1>(p.param) == torch::kFloat32 ? "_f32" : "_bf16");
                         });

TEST(StateFile, IsSafetensorsWithBitsandbytesNames) {
  auto ps = fresh_params(torch::kFloat32, 9);
  auto opt = make_optimizer("adamw_8bit", ps, OptimizerOptions{});
  run_steps(*opt, ps, 1, 3);
  const std::string path = temp_path("format");
  opt->save(path);
  std::ifstream in(path, std::ios::binary);
  unsigned char len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(len[i]) << (8 * i);
  EXPECT_EQ((n + 8) % 8, 0u) << "data starts 8-byte aligned";
  std::string header(n, ' ');
  in.read(header.data(), static_cast<std::streamsize>(n));
  for (const char* key :
       {"\"__metadata__\"", "\"variant\":\"adamw_8bit\"", "\"layout\":\"blockwise_adamw_8bit\"",
        "\"state.0.state1\":{\"dtype\":\"U8\",\"shape\":[64,128]", "\"state.1.state1\":{\"dtype\":\"F32\"",
        "\"state.0.absmax1\":{\"dtype\":\"F32\",\"shape\":[32]", "\"qmap1\"", "\"state.2.step\""})
    EXPECT_NE(header.find(key), std::string::npos) << key << " in " << header;
  std::remove(path.c_str());
}

TEST(StateFile, LoadsAcrossPlacementsOfOneLayout) {
  auto a = fresh_params(torch::kBFloat16, 10);
  auto plain = make_optimizer("adamw_8bit", a, OptimizerOptions{});
  run_steps(*plain, a, 1, 4);
  const std::string path = temp_path("cross");
  plain->save(path);
  auto b = copies(a);
  auto offload = make_optimizer("offload_adamw_8bit", b, OptimizerOptions{});
  offload->load(path);
  run_steps(*plain, a, 4, 7);
  run_steps(*offload, b, 4, 7);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i]));
  std::remove(path.c_str());
}

TEST(StateFile, RefusesOtherLayoutsAndShapesWithoutTouchingTheState) {
  auto ps = fresh_params(torch::kFloat32, 11);
  auto eight = make_optimizer("adamw_8bit", ps, OptimizerOptions{});
  run_steps(*eight, ps, 1, 3);
  const std::string path = temp_path("refuse");
  eight->save(path);

  auto thirty_two = make_optimizer("adamw_32bit", copies(ps), OptimizerOptions{});
  EXPECT_THROW(thirty_two->load(path), std::runtime_error);
  auto torch_opt = make_optimizer("adamw_torch", copies(ps), OptimizerOptions{});
  EXPECT_THROW(torch_opt->load(path), std::runtime_error);

  auto fewer = copies(ps);
  fewer.pop_back();
  EXPECT_THROW(make_optimizer("adamw_8bit", fewer, OptimizerOptions{})->load(path), std::runtime_error);

  auto other_shapes = fresh_params(torch::kFloat32, 12);
  other_shapes[2] = torch::zeros({4999}).set_requires_grad(true);
  auto victim = std::make_unique<BlockwiseAdamW>(other_shapes, OptimizerOptions{}, StateBits::b8, false);
  run_steps(*victim, other_shapes, 1, 2);
  const auto before = victim->first_moment(0).clone();
  EXPECT_THROW(victim->load(path), std::runtime_error);
  EXPECT_TRUE(torch::equal(victim->first_moment(0), before)) << "a refused file changes nothing";

  EXPECT_THROW(eight->load(temp_path("missing")), std::runtime_error);
  std::ofstream(temp_path("garbage"), std::ios::binary) << "not a state file at all";
  EXPECT_THROW(eight->load(temp_path("garbage")), std::runtime_error);
  std::remove(path.c_str());
  std::remove(temp_path("garbage").c_str());
}

TEST(PageManager, RefusesManagedMemoryBeyondFreeMemory) {
  EXPECT_NO_THROW(refuse_oversubscription(std::size_t{1} << 30, std::size_t{1} << 30));
  try {
    refuse_oversubscription((std::size_t{3} << 30) + 1, std::size_t{2} << 30);
    FAIL() << "no refusal";
  } catch (const ManagedMemoryRefused& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("3072 MiB"), std::string::npos) << what;
    EXPECT_NE(what.find("2048 MiB free"), std::string::npos) << what;
    EXPECT_NE(what.find("hang"), std::string::npos) << what;
  }
}

TEST(PageManager, KeepsTheBudgetsAllocatorShareOutOfManagedMemory) {
  // 60 GiB of paged state beside a 40 GiB budget of which 15 GiB is reserved: 25 GiB must stay free.
  const std::size_t gib = std::size_t{1} << 30;
  EXPECT_NO_THROW(refuse_oversubscription(30 * gib, 64 * gib, 25 * gib));
  EXPECT_THROW(refuse_oversubscription(40 * gib, 64 * gib, 25 * gib), ManagedMemoryRefused);
  try {
    refuse_oversubscription(40 * gib, 64 * gib, 25 * gib);
  } catch (const ManagedMemoryRefused& e) {
    EXPECT_NE(std::string(e.what()).find("keeps 25600 MiB of it for LibTorch's allocator"), std::string::npos)
        << e.what();
  }
}
