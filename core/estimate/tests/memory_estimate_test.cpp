// The calculator's numbers against figures people can check: published parameter counts, the
// article's 64 GB of AdamW state for Llama 3.1 8B, and its observation that 8B with fp32
// AdamW needs an 80 GB card while the paged variants fit a 40 GB one.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "checkpoint/checkpoint_error.h"
#include "estimate/memory_estimate.h"
#include "estimate/model_shapes.h"
#include "spec/smollm2_comparison.h"

using namespace optiscope::estimate;

namespace {

const Component& part(const Estimate& e, const std::string& name) {
  for (const auto& c : e.components)
    if (c.name == name) return c;
  throw std::runtime_error("no component " + name);
}

Workload llama8b(const std::string& optim, const std::string& precision) {
  Workload w;
  w.model = *model_preset("llama-3.1-8b");
  w.optim = optim;
  w.precision = precision;
  w.batch = 1;
  w.seq_len = 512;
  return w;
}

}  // namespace

TEST(ModelShapes, PublishedParameterCounts) {
  EXPECT_NEAR(model_preset("llama-3.2-1b")->parameter_count() / 1e9, 1.24, 0.01);
  EXPECT_NEAR(model_preset("llama-3.2-3b")->parameter_count() / 1e9, 3.21, 0.01);
  EXPECT_NEAR(model_preset("llama-3.1-8b")->parameter_count() / 1e9, 8.03, 0.01);
  EXPECT_FALSE(model_preset("gpt-5").has_value());
}

TEST(ModelShapes, ScaledShapeIsLlamaLike) {
  const ModelShape m = shape_for_parameter_count(7'000'000'000);
  EXPECT_NEAR(m.parameter_count() / 7e9, 1.0, 0.25);
  EXPECT_EQ(m.hidden_size % 128, 0);
}

TEST(MemoryEstimate, AdamW32StateOfLlama8bIsThe64GBOfTheArticle) {
  const Estimate e = estimate(llama8b("adamw_32bit", "bf16"));
  EXPECT_NEAR(part(e, "optimizer state").bytes / 1e9, 64.24, 0.1);
  EXPECT_EQ(part(e, "weights").bytes, part(e, "gradients").bytes);
  EXPECT_NEAR(part(e, "weights").bytes / 1e9, 16.06, 0.05);
}

TEST(MemoryEstimate, EightBitStateIsAQuarterPlusAbsmax) {
  const auto s32 = part(estimate(llama8b("adamw_32bit", "bf16")), "optimizer state").bytes;
  const auto s8 = part(estimate(llama8b("adamw_8bit", "bf16")), "optimizer state").bytes;
  EXPECT_NEAR(static_cast<double>(s8) / s32, (2.0 + 8.0 / 256) / 8.0, 1e-6);
}

TEST(MemoryEstimate, TorchAdamWFollowsTheParameterDtype) {
  EXPECT_DOUBLE_EQ(optimizer_bytes_per_param("adamw_torch", "fp32"), 8.0);
  EXPECT_DOUBLE_EQ(optimizer_bytes_per_param("adamw_torch", "bf16"), 4.0);
  EXPECT_DOUBLE_EQ(optimizer_bytes_per_param("paged_adamw_32bit", "bf16"), 8.0);
}

TEST(MemoryEstimate, PlacementSumsMatchComponents) {
  const Estimate e = estimate(llama8b("paged_adamw_8bit", "bf16"));
  std::int64_t sum = 0;
  for (const auto& c : e.components) sum += c.bytes;
  EXPECT_EQ(sum, e.total());
  EXPECT_EQ(e.paged_bytes, part(e, "optimizer state").bytes);
  EXPECT_EQ(e.host_bytes, 0);
  EXPECT_EQ(estimate(llama8b("offload_adamw_32bit", "bf16")).host_bytes,
            part(estimate(llama8b("adamw_32bit", "bf16")), "optimizer state").bytes);
}

TEST(MemoryEstimate, ArticleFits) {
  const std::int64_t a100_40 = cards()[1].bytes;
  const std::int64_t h100_80 = cards()[3].bytes;
  // Full-precision AdamW on Llama 3.1 8B in bf16: ~96 GB of states alone; not on 40 GB.
  EXPECT_EQ(fit_on(estimate(llama8b("adamw_32bit", "bf16")), a100_40), Fit::does_not_fit);
  // Paged: the state spills to the host, the rest fits on 40 GB.
  EXPECT_EQ(fit_on(estimate(llama8b("paged_adamw_32bit", "bf16")), a100_40), Fit::fits_with_paging);
  EXPECT_EQ(fit_on(estimate(llama8b("paged_adamw_8bit", "bf16")), a100_40), Fit::fits_with_paging);
  EXPECT_EQ(fit_on(estimate(llama8b("adamw_8bit", "bf16")), h100_80), Fit::fits);
}

TEST(MemoryEstimate, ActivationsGrowWithSequenceQuadraticTerm) {
  Workload w = llama8b("adamw_8bit", "bf16");
  const auto a1 = part(estimate(w), "activations").bytes;
  w.seq_len *= 2;
  const auto a2 = part(estimate(w), "activations").bytes;
  EXPECT_GT(static_cast<double>(a2) / a1, 2.0);
  w.batch *= 2;
  EXPECT_EQ(part(estimate(w), "activations").bytes, 2 * a2);
}

TEST(Format, BytesAndCounts) {
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(1.5 * 1024 * 1024 * 1024), "1.50 GiB");
  EXPECT_EQ(format_bytes(12.0 * 1024 * 1024), "12.0 MiB");
  EXPECT_EQ(format_count(8.03e9), "8.03 G");
  EXPECT_EQ(format_count(124e6), "124 M");
}

// torchtune's llama3/8B_full_single_device recipe, trick by trick: bf16, paged 8-bit AdamW, batch
// 2 x 512. Each trick must remove what it claims, and together they leave what must be on the
// device (weights, the largest gradient, checkpointed activations, a slice of logits) within 24 GB.
TEST(MemoryEstimate, FitLadderTricksOnLlama8B) {
  Workload w = llama8b("paged_adamw_8bit", "bf16");
  w.batch = 2;
  const Estimate plain = estimate(w);
  w.gradient_checkpointing = true;
  const Estimate ckpt = estimate(w);
  const double layers = 32.0;
  // Kept: one 2*512*4096*2 B input per layer, plus one layer while it is recomputed.
  EXPECT_NEAR(static_cast<double>(part(ckpt, "activations").bytes),
              static_cast<double>(part(plain, "activations").bytes) / layers + 2.0 * 512 * 4096 * 2 * layers,
              1.0);
  EXPECT_LT(part(ckpt, "activations").bytes * 10, part(plain, "activations").bytes);
  w.optimizer_in_bwd = true;
  const Estimate in_bwd = estimate(w);
  EXPECT_EQ(part(in_bwd, "gradients").bytes, 128256LL * 4096 * 2);
  w.loss_chunks = 8;
  const Estimate chunked = estimate(w);
  EXPECT_EQ(part(chunked, "logits").bytes * 8, part(in_bwd, "logits").bytes);
  EXPECT_EQ(fit_on(plain, 24LL << 30), Fit::does_not_fit);
  EXPECT_EQ(fit_on(chunked, 24LL << 30), Fit::fits_with_paging);
  EXPECT_LT(chunked.device_bytes, 24LL << 30);
}

// A GGUF file's geometry feeds the calculator like a preset: the real SmolLM2 file when set-up has
// fetched it, and a file that is not GGUF is refused with the reader's message.
TEST(GgufShape, ReadsTheGeometryOrRefusesTheFile) {
  const auto bad =
      std::filesystem::temp_directory_path() / ("optiscope-not-gguf-" + std::to_string(::getpid()) + ".gguf");
  std::ofstream(bad, std::ios::binary) << "not a model";
  EXPECT_THROW((void)shape_from_gguf(bad.string()), optiscope::checkpoint::CheckpointError);
  std::filesystem::remove(bad);
  const auto file = optiscope::find_in_deps("models", optiscope::kSmollm2ModelFile);
  if (!file)
    GTEST_SKIP() << "SKIPPED: no .deps/models/" << optiscope::kSmollm2ModelFile << " (installer/setup.sh)";
  const auto m = shape_from_gguf(*file);
  EXPECT_EQ(m.name, optiscope::kSmollm2ModelFile);
  EXPECT_EQ(m.hidden_size, 576);
  EXPECT_EQ(m.num_hidden_layers, 30);
  // SmolLM2-135M: 134.5 M parameters with tied embeddings.
  EXPECT_NEAR(static_cast<double>(m.parameter_count()), 134.5e6, 0.5e6);
  Workload w;
  w.model = m;
  w.precision = "bf16";
  w.optim = "adamw_8bit";
  EXPECT_GT(estimate(w).total(), 0);
}

TEST(MemoryEstimate, ShardedStateIsPerRank) {
  Workload w = llama8b("adamw_32bit", "bf16");
  const auto whole = part(estimate(w), "optimizer state").bytes;
  const auto grads = part(estimate(w), "gradients").bytes;
  w.ranks = 4;
  EXPECT_EQ(part(estimate(w), "optimizer state").bytes, whole)
      << "stage 0 replicates the state on every rank";
  w.zero_stage = 1;
  EXPECT_NEAR(static_cast<double>(part(estimate(w), "optimizer state").bytes), whole / 4.0, 1.0);
  EXPECT_EQ(part(estimate(w), "gradients").bytes, grads);
  EXPECT_NE(part(estimate(w), "optimizer state").formula.find("/ 4 ranks"), std::string::npos);
  w.zero_stage = 2;
  const Component g = part(estimate(w), "gradients");
  EXPECT_EQ(g.bytes, grads) << "the peak still holds the full gradients: reduce-scatter follows backward";
  EXPECT_NE(g.formula.find("reduce-scatter"), std::string::npos);
  w.ranks = 1;
  EXPECT_EQ(part(estimate(w), "optimizer state").bytes, whole) << "one rank shards nothing";
}
