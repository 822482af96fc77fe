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
  // Per parameter, the element count of the whole tensor it is a piece of (a rank's shard of a
  // parameter, core/distributed): the 8-bit or 32-bit choice follows the whole tensor, as on one
  // process. Empty, or shorter than the parameters: each parameter's own count.
  std::vector<std::int64_t> whole_numel;
  // offload_* variants: state bytes per moment moved per chunk, and chunks in flight (staging
  // slots on the device). 32 MiB copies run at the bus's full speed; three slots let one chunk
  // come in while one is updated and one goes back.
  std::int64_t offload_chunk_bytes = std::int64_t{32} << 20;
  int offload_slots = 3;
};

/// Bytes of optimizer state, where they live.
struct StateBytes {
  std::int64_t device = 0;   // in device memory (or CPU memory on a CPU run)
  std::int64_t managed = 0;  // in managed (paged) memory, wherever its pages are now
  std::int64_t host = 0;     // in pinned host memory (offload variants)
};

class StateFileWriter;
class StateFileReader;

class Optimizer {
 public:
  explicit Optimizer(std::vector<torch::Tensor> params) : params_(std::move(params)) {}
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual void step() = 0;
  /// Optimizer in backward (torchtune's optimizer_in_bwd): updates parameter i alone from its
  /// gradient, as soon as backward has produced it, with exactly the arithmetic step() applies to
  /// that parameter; the caller releases the gradient afterwards. Parameters are independent in
  /// every variant (AdamW has no cross-tensor term), so a step made of step_param calls, in any
  /// order, equals step() bit for bit.
  virtual void step_param(std::size_t i) = 0;
  virtual void set_lr(double lr) = 0;
  virtual StateBytes state_bytes() const = 0;
  /// The variant's name as make_optimizer knows it.
  virtual std::string name() const = 0;
  /// Anything a user should know about how this run differs from what the name promises (for
  /// example an offload variant on a CPU run); empty when nothing.
  virtual std::string note() const { return {}; }
  /// Gradient bytes the optimizer holds besides the parameters' .grad (a rank's reduced gradient
  /// shard, core/distributed); the memory probe counts them as gradients.
  virtual std::int64_t held_gradient_bytes() const { return 0; }
  /// Drops the gradients (set to undefined, as set_to_none=True does).
  void zero_grad();
  const std::vector<torch::Tensor>& params() const { return params_; }

  /// Optimizer state to a file and back, so that a run can be resumed: moments, quantization
  /// state and step counts, not the parameters (the model's checkpoint holds those) and not the
  /// hyper-parameters (the run spec does; the file records them for reading only). The format is
  /// safetensors, with the names documented in core/optim/state_file.h. load() accepts a
  /// file saved by any variant with the same state layout (adamw_8bit, paged_adamw_8bit and
  /// offload_adamw_8bit share one; so do the 32-bit three, and the two adamw_torch), for the
  /// same parameter shapes; anything else throws std::runtime_error before changing the state.
  /// save() writes PATH.tmp and renames it, so a crash never leaves a half-written file at PATH.
  void save(const std::string& path) const;
  void load(const std::string& path);

 protected:
  virtual void save_state(StateFileWriter& out) const = 0;
  virtual void load_state(const StateFileReader& in) = 0;
  /// The hyper-parameters as metadata of a state file (for reading; load() ignores them).
  static void record_options(StateFileWriter& out, const OptimizerOptions& o);

  std::vector<torch::Tensor> params_;
};

/// Makes the variant named as Hugging Face TrainingArguments.optim names it, or one of
/// offload_adamw_32bit / offload_adamw_8bit (state in pinned host memory, streamed through the
/// GPU each step; on a CPU run they are their non-offload twins and note() says so). Throws
/// std::invalid_argument for unknown names and for variants the device cannot run.
std::unique_ptr<Optimizer> make_optimizer(const std::string& name, std::vector<torch::Tensor> params,
                                          const OptimizerOptions& options);

std::int64_t tensor_bytes(const torch::Tensor& t);

}  // namespace optiscope::optim
