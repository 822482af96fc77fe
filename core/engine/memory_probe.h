#pragma once
// Splits device memory into the categories of DESIGN.md. Parameters, gradients and optimizer
// state are measured from the tensors themselves; activations are the rest of what the allocator
// handed out; paged state comes from the page manager, which LibTorch's statistics cannot see (its
// ledger is checked against the migrations every step, in CaptureSession); the context is measured
// once per process; the rest of the driver's used figure is split into its cache of evicted managed
// pages and what nothing explains (probes/device_accounting.h).
#include <torch/types.h>

#include <vector>

#include "engine/device_runtime.h"
#include "optim/optimizer.h"
#include "store/records.h"

namespace optiscope::engine {

class MemoryProbe {
 public:
  /// foreign: the driver's used memory at the run's start that is neither this process's context
  /// nor its allocator (other processes, a ballast); it is left out of every category.
  MemoryProbe(const c10::Device& device, std::vector<torch::Tensor> params, const optim::Optimizer& optimizer,
              std::int64_t foreign);

  /// The driver's used memory at this moment that belongs to no run of this process.
  static std::int64_t foreign_now(const c10::Device& device);

  /// point == end uses what is allocated now; point == peak the allocator's peak since its reset.
  MemorySample sample(std::int64_t step, Phase phase, SamplePoint point) const;

 private:
  c10::Device device_;
  std::vector<torch::Tensor> params_;
  const optim::Optimizer& optimizer_;
  std::int64_t param_bytes_ = 0;
  std::int64_t foreign_ = 0;
  ContextMemory context_;
};

}  // namespace optiscope::engine
