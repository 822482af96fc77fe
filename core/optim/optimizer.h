#pragma once
// The optimizer variants Optiscope compares, behind one interface (engine side, LibTorch).
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace optiscope::optim {

struct OptimizerOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  std::int64_t min_8bit_size = 4096;  // bitsandbytes: smaller tensors keep 32-bit state
};

/// Bytes of optimizer state, where they live.
struct StateBytes {
  std::int64_t device = 0;  // in device memory (or CPU memory on a CPU run)
  std::int64_t managed = 0;  // in managed (paged) memory, wherever its pages are now
  std::int64_t host = 0;     // in pinned host memory (offload variants)
};

class Optimizer {
 public:
  explicit Optimizer(std::vector<torch::Tensor> params) : params_(std::move(params)) {}
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual void step() = 0;
  virtual void set_lr(double lr) = 0;
  virtual StateBytes state_bytes() const = 0;
  /// Drops the gradients (set to undefined, as set_to_none=True does).
  void zero_grad();
  const std::vector<torch::Tensor>& params() const { return params_; }

 protected:
  std::vector<torch::Tensor> params_;
};

/// Makes the variant named as Hugging Face TrainingArguments.optim names it. Throws
/// std::invalid_argument for unknown names and for variants the device cannot run.
std::unique_ptr<Optimizer> make_optimizer(const std::string& name, std::vector<torch::Tensor> params,
                                          const OptimizerOptions& options);

std::int64_t tensor_bytes(const torch::Tensor& t);

}  // namespace optiscope::optim
