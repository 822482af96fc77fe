// Optimizer in backward on the GPU: the peak of a real step drops by about the size of the
// gradients, which are released as soon as each parameter is updated. Llama-3.2-1B geometry in
// bf16 with a short sequence, so the gradients (2.3 GiB) dominate the activations. Skips, loudly,
// without a CUDA device.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cstdio>

#include "engine/trainer.h"

using namespace optiscope;

namespace {

struct Peak {
  std::int64_t device = 0;     // largest device total over every sample
  std::int64_t gradients = 0;  // most gradient bytes at a sample
};

Peak peak_of(const RunSpec& spec) {
  struct Recorder final : engine::RunRecorder {
    Peak p;
    void on_bundle(const StepBundle& b) override {
      for (const auto& s : b.memory) {
        // Allocator figures only: the context and the cache do not depend on the trick.
        p.device = std::max(p.device, s.parameters + s.gradients + s.optimizer_device + s.activations);
        p.gradients = std::max(p.gradients, s.gradients);
      }
    }
  } recorder;
  const auto result = engine::train(spec, &recorder, nullptr, {.capture = false});
  EXPECT_EQ(result.outcome, Outcome::completed) << result.detail;
  return recorder.p;
}

}  // namespace

TEST(OptimizerInBackwardGpu, LowersThePeakByAboutTheGradients) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device: optimizer-in-backward GPU test skipped";
  RunSpec s;
  s.model = "llama-3.2-1b";
  s.device = "cuda";
  s.precision = "bf16";
  s.per_device_train_batch_size = 1;
  s.max_seq_length = 128;
  s.max_steps = 3;
  s.max_grad_norm = 0.0;
  for (const char* optim : {"adamw_torch", "paged_adamw_8bit"}) {
    s.optim = optim;
    s.optimizer_in_bwd = false;
    const Peak plain = peak_of(s);
    s.optimizer_in_bwd = true;
    const Peak in_bwd = peak_of(s);
    const double saved = static_cast<double>(plain.device - in_bwd.device);
    const double grads = static_cast<double>(plain.gradients);
    std::printf("[ info ] %s: peak %.3f -> %.3f GiB, saved %.3f GiB = %.2f x the gradients (%.3f GiB)\n",
                optim, static_cast<double>(plain.device) / (1 << 30),
                static_cast<double>(in_bwd.device) / (1 << 30), saved / (1 << 30), saved / grads,
                grads / (1 << 30));
    EXPECT_EQ(in_bwd.gradients, 0) << optim;
    // The tied embedding's gradient (0.49 GiB) lives to the end of backward either way, and the
    // layer being differentiated holds its own for a moment: most of the gradients, not all.
    EXPECT_GT(saved, 0.6 * grads) << optim;
    EXPECT_LT(saved, 1.15 * grads) << optim;
  }
}
