#include "model/layer_checkpoint.h"

#include <ATen/autocast_mode.h>

#include "model/llama.h"

namespace optiscope {
namespace {

// Carries the layer (and the autocast state it ran under) from forward to backward through the
// autograd context, which only stores IValues.
struct LayerCapsule : torch::CustomClassHolder {
  std::shared_ptr<LlamaDecoderLayerImpl> layer;
  c10::DeviceType device_type = c10::DeviceType::CPU;
  bool autocast = false;
  at::ScalarType autocast_dtype = at::kBFloat16;
};

// Re-applies forward's autocast state for the recomputation: the recomputed activations must be
// the ones forward produced, in the same precision.
class AutocastAs {
 public:
  explicit AutocastAs(const LayerCapsule& c) : type_(c.device_type) {
    was_enabled_ = at::autocast::is_autocast_enabled(type_);
    was_dtype_ = at::autocast::get_autocast_dtype(type_);
    at::autocast::set_autocast_enabled(type_, c.autocast);
    at::autocast::set_autocast_dtype(type_, c.autocast_dtype);
  }
  ~AutocastAs() {
    at::autocast::set_autocast_enabled(type_, was_enabled_);
    at::autocast::set_autocast_dtype(type_, was_dtype_);
  }
  AutocastAs(const AutocastAs&) = delete;
  AutocastAs& operator=(const AutocastAs&) = delete;

 private:
  c10::DeviceType type_;
  bool was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kBFloat16;
};

class CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, torch::Tensor cos,
                               torch::Tensor sin, c10::intrusive_ptr<LayerCapsule> capsule) {
    // Autograd runs this under no-grad: nothing inside the layer is kept for backward.
    ctx->save_for_backward({x, cos, sin});
    ctx->saved_data["layer"] = c10::IValue::make_capsule(capsule);
    return capsule->layer->forward(x, cos, sin);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const auto capsule = ctx->saved_data["layer"].toCapsule();
    const auto& c = *static_cast<LayerCapsule*>(capsule.get());
    auto x = saved[0].detach().requires_grad_(true);
    torch::Tensor y;
    {
      torch::AutoGradMode grad(true);
      AutocastAs autocast(c);
      y = c.layer->forward(x, saved[1], saved[2]);
    }
    torch::autograd::backward({y}, {grad_out[0]});
    return {x.grad(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor checkpointed_layer(const std::shared_ptr<LlamaDecoderLayerImpl>& layer, const torch::Tensor& x,
                                 const torch::Tensor& cos, const torch::Tensor& sin) {
  auto capsule = c10::make_intrusive<LayerCapsule>();
  capsule->layer = layer;
  capsule->device_type = x.device().type();
  capsule->autocast = at::autocast::is_autocast_enabled(capsule->device_type);
  capsule->autocast_dtype = at::autocast::get_autocast_dtype(capsule->device_type);
  return CheckpointFunction::apply(x, cos, sin, capsule);
}

}  // namespace optiscope
