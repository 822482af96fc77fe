#include <gtest/gtest.h>
#include <torch/torch.h>

#include "optim/blockwise_adamw.h"
#include "optim/optimizer.h"

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
