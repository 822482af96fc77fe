// The fused model ops (core/model/fused_ops.h, kernels/model_kernels.cu) against the LibTorch ops
// they replace: forward and gradients on fresh random bf16 inputs, both compared with a float64
// reference by ||out - ref|| / ||ref||. The fused result must sit in the bf16 band (under 1e-2)
// and be no less accurate than the unfused bf16 ops (it rounds less often, so usually more
// accurate). The raw kernels are also run on NaN-poisoned outputs, to show every element written.
// Last, the trainer's deferred readback on the device (it uses the fused ops on the tiny preset).
// Every test skips itself, loudly, without a CUDA device.
#include <ATen/cuda/CUDAContext.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "engine/trainer.h"
#include "loss_kernels.h"
#include "model/chunked_cross_entropy.h"
#include "model/fused_ops.h"
#include "model/llama.h"
#include "model/llama_config.h"
#include "model_kernels.h"

using namespace optiscope;

namespace {

#define REQUIRE_CUDA()                                                                                \
  do {                                                                                                \
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device: fused model op tests skipped"; \
  } while (0)

constexpr double kBf16Band = 1e-2;  // METHOD: bf16 operands land between 1e-3 and 1e-2

// Fresh inputs for every run; the seed is printed so that a failure can be replayed.
std::uint64_t fresh_seed(const std::string& what) {
  const std::uint64_t seed = std::random_device{}();
  std::printf("[ info ] %s: seed %llu\n", what.c_str(), static_cast<unsigned long long>(seed));
  torch::manual_seed(seed);
  return seed;
}

double rel_err(const torch::Tensor& out, const torch::Tensor& ref) {
  const auto o = out.detach().to(torch::kCPU, torch::kFloat64);
  const auto r = ref.detach().to(torch::kCPU, torch::kFloat64);
  return ((o - r).norm() / r.norm()).item<double>();
}

// The fused result against float64, in the bf16 band and no worse than the unfused ops (with a
// little slack: on some draws the two are equally accurate up to rounding luck).
void expect_accurate(const std::string& what, const torch::Tensor& fused, const torch::Tensor& unfused,
                     const torch::Tensor& ref) {
  const double f = rel_err(fused, ref);
  const double u = rel_err(unfused, ref);
  std::printf("[ info ] %-40s rel err fused %.3e, unfused %.3e\n", what.c_str(), f, u);
  EXPECT_LT(f, kBf16Band) << what;
  EXPECT_LE(f, 1.25 * u + 1e-4) << what << ": the fused op is less accurate than the ops it replaces";
}

torch::Tensor bf16_cuda(const torch::Tensor& t) {
  return t.to(torch::kCUDA, torch::kBFloat16).contiguous();
}

bool all_finite(const torch::Tensor& t) {
  return torch::isfinite(t.to(torch::kFloat32)).all().item<bool>();
}

void* stream() {
  return static_cast<void*>(at::cuda::getCurrentCUDAStream().stream());
}

// Forward and input/weight gradients of one RMSNorm module, fused or not.
struct NormRun {
  torch::Tensor y, dx, dw;
};

NormRun run_norm(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& dy, bool fused_on) {
  fused::set_enabled(fused_on);
  RMSNorm norm(x.size(-1), 1e-5);
  norm->to(x.device(), x.scalar_type());
  {
    torch::NoGradGuard no_grad;
    norm->weight.copy_(w);
  }
  const auto xin = x.detach().clone().requires_grad_(true);
  EXPECT_EQ(fused::can_rms_norm(xin, norm->weight), fused_on && x.scalar_type() == torch::kBFloat16);
  const auto y = norm(xin);
  y.backward(dy);
  fused::set_enabled(true);
  return {y.detach(), xin.grad(), norm->weight.grad()};
}

class FusedRmsNorm : public ::testing::TestWithParam<std::vector<std::int64_t>> {};

TEST_P(FusedRmsNorm, MatchesUnfusedAndFloat64) {
  REQUIRE_CUDA();
  const auto shape = GetParam();
  fresh_seed("rms_norm cols " + std::to_string(shape.back()));
  const auto x = bf16_cuda(torch::randn(shape) * 3.0);
  const auto w = bf16_cuda(1.0 + 0.2 * torch::randn({shape.back()}));
  const auto dy = bf16_cuda(torch::randn(shape));
  const auto fused_run = run_norm(x, w, dy, true);
  const auto plain_run = run_norm(x, w, dy, false);
  // transformers' formula in float64 (without its bf16 rounding of the normalised row).
  const auto x64 = x.to(torch::kFloat64).requires_grad_(true);
  const auto w64 = w.to(torch::kFloat64).requires_grad_(true);
  const auto y64 = w64 * (x64 * torch::rsqrt(x64.pow(2).mean(-1, true) + 1e-5));
  y64.backward(dy.to(torch::kFloat64));
  const auto tag = "rms_norm " + std::to_string(shape.back());
  expect_accurate(tag + " y", fused_run.y, plain_run.y, y64);
  expect_accurate(tag + " dx", fused_run.dx, plain_run.dx, x64.grad());
  expect_accurate(tag + " dweight", fused_run.dw, plain_run.dw, w64.grad());
}

// The 1B, 3B and 8B rows; a row that leaves most of a warp idle; rows with two vectors per thread
// (512 threads) and with four (three rounded up, and four).
INSTANTIATE_TEST_SUITE_P(
    Shapes, FusedRmsNorm,
    ::testing::Values(std::vector<std::int64_t>{4, 512, 2048}, std::vector<std::int64_t>{2, 300, 3072},
                      std::vector<std::int64_t>{1, 64, 4096}, std::vector<std::int64_t>{3, 7, 520},
                      std::vector<std::int64_t>{2, 50, 8192}, std::vector<std::int64_t>{5, 9000},
                      std::vector<std::int64_t>{2, 3, 16384}));

TEST(FusedRmsNorm, UnsupportedShapesAndDtypesKeepTheLibTorchOps) {
  REQUIRE_CUDA();
  const auto w = bf16_cuda(torch::ones({100}));
  EXPECT_FALSE(fused::can_rms_norm(bf16_cuda(torch::randn({4, 96})), bf16_cuda(torch::ones({88}))));
  EXPECT_FALSE(fused::can_rms_norm(bf16_cuda(torch::randn({4, 100})), w));  // 100 is not a multiple of 8
  EXPECT_FALSE(fused::can_rms_norm(torch::randn({4, 96}, torch::kCUDA), torch::ones({96}, torch::kCUDA)));
  EXPECT_FALSE(
      fused::can_rms_norm(bf16_cuda(torch::randn({4, 96})).cpu(), bf16_cuda(torch::ones({96})).cpu()));
  fused::set_enabled(false);
  EXPECT_FALSE(fused::can_rms_norm(bf16_cuda(torch::randn({4, 96})), bf16_cuda(torch::ones({96}))));
  fused::set_enabled(true);
  EXPECT_TRUE(fused::can_rms_norm(bf16_cuda(torch::randn({4, 96})), bf16_cuda(torch::ones({96}))));
}

TEST(FusedRmsNorm, KernelsWriteEveryOutput) {
  REQUIRE_CUDA();
  fresh_seed("rms_norm poison");
  const std::int64_t rows = 1000, cols = 3072;
  const auto x = bf16_cuda(torch::randn({rows, cols}));
  const auto w = bf16_cuda(torch::randn({cols}));
  const auto dy = bf16_cuda(torch::randn({rows, cols}));
  const auto nan = std::numeric_limits<float>::quiet_NaN();
  auto y = bf16_cuda(torch::full({rows, cols}, nan));
  auto rstd = torch::full({rows}, nan, torch::TensorOptions().device(torch::kCUDA));
  kernels::rms_norm_forward(x.data_ptr(), w.data_ptr(), y.data_ptr(), rstd.data_ptr<float>(), rows, cols,
                            1e-5f, stream());
  EXPECT_TRUE(all_finite(y));
  EXPECT_TRUE(all_finite(rstd));
  auto dx = bf16_cuda(torch::full({rows, cols}, nan));
  auto dw = bf16_cuda(torch::full({cols}, nan));
  auto scratch = torch::full({kernels::rms_norm_backward_scratch_rows(rows), cols}, nan,
                             torch::TensorOptions().device(torch::kCUDA));
  kernels::rms_norm_backward(dy.data_ptr(), x.data_ptr(), w.data_ptr(), rstd.data_ptr<float>(), dx.data_ptr(),
                             dw.data_ptr(), scratch.data_ptr<float>(), rows, cols, stream());
  EXPECT_TRUE(all_finite(dx));
  EXPECT_TRUE(all_finite(dw));
}

TEST(FusedSwiGlu, MatchesUnfusedAndFloat64) {
  REQUIRE_CUDA();
  for (const auto& shape : {std::vector<std::int64_t>{4, 512, 8192}, std::vector<std::int64_t>{3, 1001}}) {
    fresh_seed("swiglu " + std::to_string(shape.back()));
    const auto gate = bf16_cuda(torch::randn(shape) * 3.0);
    const auto up = bf16_cuda(torch::randn(shape));
    const auto dout = bf16_cuda(torch::randn(shape));
    auto run = [&](bool fused_on) {
      const auto g = gate.clone().requires_grad_(true);
      const auto u = up.clone().requires_grad_(true);
      EXPECT_TRUE(fused::can_swiglu(g, u));
      const auto out = fused_on ? fused::swiglu(g, u) : torch::silu(g) * u;
      out.backward(dout);
      return std::vector<torch::Tensor>{out.detach(), g.grad(), u.grad()};
    };
    const auto f = run(true);
    const auto p = run(false);
    const auto g64 = gate.to(torch::kFloat64).requires_grad_(true);
    const auto u64 = up.to(torch::kFloat64).requires_grad_(true);
    const auto out64 = torch::silu(g64) * u64;
    out64.backward(dout.to(torch::kFloat64));
    const auto tag = "swiglu " + std::to_string(shape.back());
    expect_accurate(tag + " out", f[0], p[0], out64);
    expect_accurate(tag + " dgate", f[1], p[1], g64.grad());
    expect_accurate(tag + " dup", f[2], p[2], u64.grad());
  }
}

TEST(FusedSwiGlu, KernelsWriteEveryOutputWithATail) {
  REQUIRE_CUDA();
  fresh_seed("swiglu poison");
  const std::int64_t n = 1000003;  // not a multiple of 8: the last 3 go through the tail
  const auto gate = bf16_cuda(torch::randn({n}));
  const auto up = bf16_cuda(torch::randn({n}));
  const auto dout = bf16_cuda(torch::randn({n}));
  const auto nan = std::numeric_limits<float>::quiet_NaN();
  auto out = bf16_cuda(torch::full({n}, nan));
  auto dg = bf16_cuda(torch::full({n}, nan));
  auto du = bf16_cuda(torch::full({n}, nan));
  kernels::swiglu_forward(gate.data_ptr(), up.data_ptr(), out.data_ptr(), n, stream());
  kernels::swiglu_backward(dout.data_ptr(), gate.data_ptr(), up.data_ptr(), dg.data_ptr(), du.data_ptr(), n,
                           stream());
  EXPECT_TRUE(all_finite(out));
  EXPECT_TRUE(all_finite(dg));
  EXPECT_TRUE(all_finite(du));
  const auto ref = torch::silu(gate.to(torch::kFloat64)) * up.to(torch::kFloat64);
  EXPECT_LT(rel_err(out.narrow(0, n - 3, 3), ref.narrow(0, n - 3, 3)), kBf16Band);
}

torch::Tensor rotate_half(const torch::Tensor& x) {
  const auto half = x.size(-1) / 2;
  return torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

// The model's unfused rotary embedding on [b, t, heads, d] rows (the same formula in any dtype).
torch::Tensor rope_reference(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const auto c = cos.unsqueeze(1);  // [t, 1, d] against [b, t, heads, d]
  const auto s = sin.unsqueeze(1);
  return x * c + rotate_half(x) * s;
}

TEST(FusedRope, MatchesUnfusedAndFloat64) {
  REQUIRE_CUDA();
  for (const char* name : {"llama-3.2-1b", "llama-3.2-3b", "tiny"}) {
    const std::string preset = name;
    fresh_seed("rope " + preset);
    const auto config = llama_preset(preset);
    const std::int64_t b = 2, t = 300;
    RotaryEmbedding rotary(config);
    const auto [cos, sin] = rotary.tables(t, torch::kBFloat16, torch::kCUDA);
    const auto q = bf16_cuda(torch::randn({b, t, config.num_attention_heads, config.head_dim}));
    const auto k = bf16_cuda(torch::randn({b, t, config.num_key_value_heads, config.head_dim}));
    const auto dq = bf16_cuda(torch::randn(q.sizes()));
    const auto dk = bf16_cuda(torch::randn(k.sizes()));
    auto run = [&](bool fused_on) {
      const auto qi = q.clone().requires_grad_(true);
      const auto ki = k.clone().requires_grad_(true);
      EXPECT_TRUE(fused::can_rope(qi, ki, cos, sin));
      torch::Tensor qo, ko;
      if (fused_on) {
        std::tie(qo, ko) = fused::rope(qi, ki, cos, sin);
      } else {
        qo = rope_reference(qi, cos, sin);
        ko = rope_reference(ki, cos, sin);
      }
      torch::autograd::backward({qo, ko}, {dq, dk});
      return std::vector<torch::Tensor>{qo.detach(), ko.detach(), qi.grad(), ki.grad()};
    };
    const auto f = run(true);
    const auto p = run(false);
    const auto q64 = q.to(torch::kFloat64).requires_grad_(true);
    const auto k64 = k.to(torch::kFloat64).requires_grad_(true);
    const auto c64 = cos.to(torch::kFloat64);
    const auto s64 = sin.to(torch::kFloat64);
    const auto qo64 = rope_reference(q64, c64, s64);
    const auto ko64 = rope_reference(k64, c64, s64);
    torch::autograd::backward({qo64, ko64}, {dq.to(torch::kFloat64), dk.to(torch::kFloat64)});
    expect_accurate("rope " + preset + " q", f[0], p[0], qo64);
    expect_accurate("rope " + preset + " k", f[1], p[1], ko64);
    expect_accurate("rope " + preset + " dq", f[2], p[2], q64.grad());
    expect_accurate("rope " + preset + " dk", f[3], p[3], k64.grad());
  }
}

TEST(FusedRope, KernelWritesEveryOutputAndWorksInPlace) {
  REQUIRE_CUDA();
  fresh_seed("rope poison");
  const auto config = llama_preset("llama-3.2-1b");
  const std::int64_t b = 3, t = 77;
  RotaryEmbedding rotary(config);
  const auto [cos, sin] = rotary.tables(t, torch::kBFloat16, torch::kCUDA);
  const auto q = bf16_cuda(torch::randn({b, t, config.num_attention_heads, config.head_dim}));
  const auto k = bf16_cuda(torch::randn({b, t, config.num_key_value_heads, config.head_dim}));
  const auto nan = std::numeric_limits<float>::quiet_NaN();
  auto qo = bf16_cuda(torch::full(q.sizes(), nan));
  auto ko = bf16_cuda(torch::full(k.sizes(), nan));
  kernels::rope_apply({q.data_ptr(), qo.data_ptr(), q.size(2)}, {k.data_ptr(), ko.data_ptr(), k.size(2)},
                      cos.data_ptr(), sin.data_ptr(), b, t, config.head_dim, false, stream());
  EXPECT_TRUE(all_finite(qo));
  EXPECT_TRUE(all_finite(ko));
  // In place (out == in) gives the same bits: each pair is read before it is written.
  auto qi = q.clone();
  auto ki = k.clone();
  kernels::rope_apply({qi.data_ptr(), qi.data_ptr(), q.size(2)}, {ki.data_ptr(), ki.data_ptr(), k.size(2)},
                      cos.data_ptr(), sin.data_ptr(), b, t, config.head_dim, false, stream());
  EXPECT_TRUE(torch::equal(qi, qo));
  EXPECT_TRUE(torch::equal(ki, ko));
  // The inverse undoes the forward up to rounding (the rotation is orthogonal).
  kernels::rope_apply({qo.data_ptr(), qi.data_ptr(), q.size(2)}, {ko.data_ptr(), ki.data_ptr(), k.size(2)},
                      cos.data_ptr(), sin.data_ptr(), b, t, config.head_dim, true, stream());
  EXPECT_LT(rel_err(qi, q), kBf16Band);
  EXPECT_LT(rel_err(ki, k), kBf16Band);
}

// A whole model: loss and every parameter's gradient with the fused ops, without them, and in
// float64 (same weights), with and without activation checkpointing.
struct ModelRun {
  double loss = 0.0;
  torch::Tensor grads;  // all parameter gradients, flattened, float64
};

ModelRun run_model(LlamaForCausalLM& model, const torch::Tensor& ids, bool fused_on, bool checkpoint) {
  fused::set_enabled(fused_on);
  model->set_gradient_checkpointing(checkpoint);
  model->zero_grad();
  const auto loss = model->loss(model->forward(ids), ids);
  loss.backward();
  std::vector<torch::Tensor> grads;
  for (const auto& p : model->parameters()) grads.push_back(p.grad().to(torch::kFloat64).flatten());
  fused::set_enabled(true);
  return {loss.item<double>(), torch::cat(grads)};
}

TEST(FusedModel, LossAndGradientsMatchUnfusedAndFloat64) {
  REQUIRE_CUDA();
  const auto seed = fresh_seed("model small");
  const auto config = llama_preset("small");
  LlamaForCausalLM model(config);
  model->reset_parameters(seed);
  model->to(torch::kCUDA, torch::kBFloat16);
  // The float64 model holds the very bf16 weights, widened.
  LlamaForCausalLM model64(config);
  model64->to(torch::kCUDA, torch::kFloat64);
  {
    torch::NoGradGuard no_grad;
    const auto src = model->parameters();
    const auto dst = model64->parameters();
    for (std::size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
  }
  model->train();
  model64->train();
  const auto ids = torch::randint(0, config.vocab_size, {2, 256},
                                  torch::TensorOptions().device(torch::kCUDA).dtype(torch::kLong));
  const auto fused_run = run_model(model, ids, true, false);
  const auto plain_run = run_model(model, ids, false, false);
  const auto ckpt_run = run_model(model, ids, true, true);
  const auto ref = run_model(model64, ids, true, false);  // float64: the fused ops do not apply
  const double loss_fused = std::abs(fused_run.loss - ref.loss) / ref.loss;
  const double loss_plain = std::abs(plain_run.loss - ref.loss) / ref.loss;
  std::printf("[ info ] model loss %.6f (float64 %.6f): rel err fused %.3e, unfused %.3e\n", fused_run.loss,
              ref.loss, loss_fused, loss_plain);
  EXPECT_LT(loss_fused, kBf16Band);
  // Gradients through a whole bf16 model are further from float64 than one op's; the fused ops
  // must not make that worse.
  const double g_fused = rel_err(fused_run.grads, ref.grads);
  const double g_plain = rel_err(plain_run.grads, ref.grads);
  std::printf("[ info ] model gradients rel err fused %.3e, unfused %.3e\n", g_fused, g_plain);
  EXPECT_LE(g_fused, 1.25 * g_plain + 1e-4);
  EXPECT_LT(g_fused, 5e-2);
  // Recomputing the layers in backward runs the same fused kernels again.
  const double g_ckpt = rel_err(ckpt_run.grads, fused_run.grads);
  std::printf("[ info ] model gradients, checkpointed against not: rel diff %.3e\n", g_ckpt);
  EXPECT_LT(g_ckpt, 1e-2);
}

// The fused linear + cross-entropy (chunked_cross_entropy.h) on bf16 CUDA tensors: loss, hidden
// gradient and weight gradient, with the cross-entropy kernel (fused on) and with LibTorch's float32
// ops in its place (fused off), against the plain path (bf16 projection, float32 cross-entropy)
// and float64. Some rows ignored; a vocabulary the size of Llama 3's.
struct LossRun {
  double loss;
  torch::Tensor dh, dw;
};

LossRun run_loss(const torch::Tensor& h0, const torch::Tensor& w0, const torch::Tensor& labels,
                 std::int64_t chunks, bool fused_on) {
  fused::set_enabled(fused_on);
  const auto h = h0.clone().requires_grad_(true);
  const auto w = w0.clone().requires_grad_(true);
  torch::Tensor loss;
  if (chunks > 0) {
    loss = chunked_cross_entropy(h, w, labels, chunks);
  } else {
    auto logits = torch::nn::functional::linear(h, w);
    if (logits.scalar_type() != torch::kFloat64) logits = logits.to(torch::kFloat32);
    loss = torch::nn::functional::cross_entropy(
        logits, labels, torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
  }
  (loss * 0.5).backward();  // an upstream gradient other than 1 reaches both inputs
  fused::set_enabled(true);
  return {loss.item<double>(), h.grad(), w.grad()};
}

TEST(FusedLinearCrossEntropy, MatchesThePlainLossAndFloat64) {
  REQUIRE_CUDA();
  fresh_seed("linear cross-entropy");
  const std::int64_t tokens = 600, hidden = 256, vocab = 128256;
  const auto h = bf16_cuda(torch::randn({tokens, hidden}));
  const auto w = bf16_cuda(torch::randn({vocab, hidden}) * 0.05);
  auto labels = torch::randint(0, vocab, {tokens}, torch::kLong);
  labels.narrow(0, 100, 37).fill_(-100);
  labels = labels.to(torch::kCUDA);
  const auto plain = run_loss(h, w, labels, 0, true);
  const auto ref = run_loss(h.to(torch::kFloat64), w.to(torch::kFloat64), labels, 0, true);
  for (const std::int64_t chunks : {1, 4, 7}) {
    const auto fused_run = run_loss(h, w, labels, chunks, true);
    const auto aten_run = run_loss(h, w, labels, chunks, false);
    const std::string tag = std::to_string(chunks) + " chunks";
    std::printf("[ info ] loss %.6f fused, %.6f LibTorch ops, %.6f plain, %.6f float64 (%s)\n",
                fused_run.loss, aten_run.loss, plain.loss, ref.loss, tag.c_str());
    EXPECT_LT(std::abs(fused_run.loss - ref.loss) / ref.loss, 1e-3) << tag;
    EXPECT_LT(std::abs(fused_run.loss - aten_run.loss) / ref.loss, 1e-5) << tag;
    expect_accurate("hidden gradient, " + tag, fused_run.dh, plain.dh, ref.dh);
    if (chunks == 1) {
      expect_accurate("weight gradient, " + tag, fused_run.dw, plain.dw, ref.dw);
    } else {
      // The weight gradient is summed over the slices in bf16 (a float32 sum would hold another
      // copy of the embedding's size): one more rounding per slice, still in the bf16 band.
      const double err = rel_err(fused_run.dw, ref.dw);
      std::printf("[ info ] %-40s rel err fused %.3e, plain %.3e\n", ("weight gradient, " + tag).c_str(), err,
                  rel_err(plain.dw, ref.dw));
      EXPECT_LT(err, kBf16Band) << tag;
    }
    // The kernel and LibTorch's float32 ops compute the same thing: only rounding differs.
    EXPECT_LT(rel_err(fused_run.dh, aten_run.dh), 1e-2) << tag;
    EXPECT_LT(rel_err(fused_run.dw, aten_run.dw), 1e-2) << tag;
  }
}

TEST(FusedLinearCrossEntropy, KernelWritesEveryRowAndZeroesIgnoredOnes) {
  REQUIRE_CUDA();
  fresh_seed("cross-entropy kernel");
  const std::int64_t rows = 37, vocab = 1000;  // 125 vectors a row: fewer than the block's threads
  auto logits = bf16_cuda(torch::randn({rows, vocab}) * 3);
  const auto wide = logits.to(torch::kFloat32);
  auto labels = torch::randint(0, vocab, {rows}, torch::kLong);
  labels[5] = -100;
  labels = labels.to(torch::kCUDA);
  const auto inv = torch::full({}, 1.0f / 36.0f, torch::TensorOptions().device(torch::kCUDA));
  auto loss = torch::full({rows}, std::numeric_limits<float>::quiet_NaN(),
                          torch::TensorOptions().device(torch::kCUDA));
  kernels::cross_entropy_rows(logits.data_ptr(), labels.data_ptr<std::int64_t>(), inv.data_ptr<float>(),
                              loss.data_ptr<float>(), rows, vocab, /*write_grad=*/true, stream());
  const auto lse = torch::logsumexp(wide, 1);
  const auto picked = wide.gather(1, labels.clamp_min(0).unsqueeze(1)).squeeze(1);
  auto expected_loss = lse - picked;
  expected_loss[5] = 0;
  EXPECT_TRUE(torch::allclose(loss, expected_loss, 1e-4, 1e-5));
  auto expected_grad = torch::softmax(wide, 1);
  expected_grad.scatter_add_(1, labels.clamp_min(0).unsqueeze(1),
                             torch::full({rows, 1}, -1.0f, wide.options()));
  expected_grad = expected_grad / 36.0;
  expected_grad[5].zero_();
  EXPECT_TRUE(all_finite(logits));
  EXPECT_LT(rel_err(logits, expected_grad), 1e-2);
  EXPECT_EQ(logits[5].abs().sum().item<float>(), 0.0f);
  EXPECT_THROW(
      kernels::cross_entropy_rows(logits.data_ptr(), labels.data_ptr<std::int64_t>(), inv.data_ptr<float>(),
                                  loss.data_ptr<float>(), rows, 1001, true, stream()),
      std::invalid_argument);
}

}  // namespace

namespace {

// The trainer's deferred readback on a real device (CUDA events, pinned loss copies, pinned batch
// copies): the same steps as every-step mode. Step 1's loss comes before any update, so it is the
// same bits; later steps may differ by the attention backward's non-deterministic sums.
TEST(DeferredReadbackOnCuda, RecordsTheSameStepsAsEveryStepMode) {
  REQUIRE_CUDA();
  RunSpec s;
  s.device = "cuda";
  s.precision = "bf16";
  s.max_steps = 6;
  s.eval_split = 0.2;
  s.eval_steps = 3;
  s.max_eval_samples = 4;
  auto record = [&](bool deferred) {
    struct Collect final : engine::RunRecorder {
      std::vector<StepRecord> steps;
      void on_bundle(const StepBundle& b) override {
        if (b.step) steps.push_back(*b.step);
      }
    } rec;
    engine::TrainOptions options;
    options.capture = false;
    options.deferred_readback = deferred;
    const auto r = engine::train(s, &rec, nullptr, options);
    EXPECT_EQ(r.outcome, Outcome::completed) << r.detail;
    return rec.steps;
  };
  const auto every = record(false);
  const auto deferred = record(true);
  ASSERT_EQ(every.size(), 6u);
  ASSERT_EQ(deferred.size(), 6u);
  EXPECT_DOUBLE_EQ(deferred[0].loss, every[0].loss);
  for (std::size_t i = 0; i < every.size(); ++i) {
    std::printf("[ info ] step %zu: loss %.6f / %.6f, step_ms %.2f / %.2f (deferred / every step)\n", i + 1,
                deferred[i].loss, every[i].loss, deferred[i].step_ms, every[i].step_ms);
    EXPECT_EQ(deferred[i].step, static_cast<std::int64_t>(i) + 1);
    EXPECT_NEAR(deferred[i].loss, every[i].loss, 1e-2 * std::abs(every[i].loss));
    EXPECT_EQ(deferred[i].eval_loss.has_value(), (i + 1) % 3 == 0);
    EXPECT_GT(deferred[i].step_ms, 0.0);
    EXPECT_GT(*deferred[i].optimizer_ms, 0.0);
  }
}

}  // namespace
