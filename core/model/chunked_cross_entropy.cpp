#include "model/chunked_cross_entropy.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <algorithm>

namespace optiscope {
namespace {

constexpr std::int64_t kIgnoreIndex = -100;

// Autocast off inside the function: the dtypes are chosen explicitly (the one forward recorded),
// and backward, which autocast never covers, must compute in the same ones.
class NoAutocast {
 public:
  explicit NoAutocast(c10::DeviceType type) : type_(type), was_(at::autocast::is_autocast_enabled(type)) {
    at::autocast::set_autocast_enabled(type_, false);
  }
  ~NoAutocast() { at::autocast::set_autocast_enabled(type_, was_); }
  NoAutocast(const NoAutocast&) = delete;
  NoAutocast& operator=(const NoAutocast&) = delete;

 private:
  c10::DeviceType type_;
  bool was_;
};

// Float32 logits of one slice of tokens, projected in the compute dtype as the plain path's
// lm_head does (bf16 weights, or bf16 under autocast), then widened as its loss widens them.
torch::Tensor slice_logits(const torch::Tensor& hidden_slice, const torch::Tensor& weight,
                           at::ScalarType dtype) {
  return torch::nn::functional::linear(hidden_slice.to(dtype), weight).to(torch::kFloat32);
}

class ChunkedCrossEntropy : public torch::autograd::Function<ChunkedCrossEntropy> {
 public:
  // hidden [N, H], weight [V, H], labels [N].
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor hidden,
                               torch::Tensor weight, torch::Tensor labels, std::int64_t chunks) {
    const auto device_type = hidden.device().type();
    const bool autocast = at::autocast::is_autocast_enabled(device_type);
    const at::ScalarType dtype =
        autocast ? at::autocast::get_autocast_dtype(device_type) : hidden.scalar_type();
    NoAutocast off(device_type);
    const auto w = weight.to(dtype);
    const auto valid = labels.ne(kIgnoreIndex);
    const auto targets = labels.clamp_min(0);
    const std::int64_t n = hidden.size(0);
    const std::int64_t per = std::max<std::int64_t>(1, (n + chunks - 1) / chunks);
    auto total = torch::zeros({}, hidden.options().dtype(torch::kFloat32));
    for (std::int64_t begin = 0; begin < n; begin += per) {
      const std::int64_t len = std::min(per, n - begin);
      const auto logits = slice_logits(hidden.narrow(0, begin, len), w, dtype);
      const auto picked = logits.gather(1, targets.narrow(0, begin, len).unsqueeze(1)).squeeze(1);
      const auto token_loss = torch::logsumexp(logits, 1) - picked;
      total += torch::where(valid.narrow(0, begin, len), token_loss, torch::zeros_like(token_loss)).sum();
    }
    const auto count = valid.sum().to(torch::kFloat32);
    ctx->save_for_backward({hidden, weight, labels, count});
    ctx->saved_data["chunks"] = chunks;
    ctx->saved_data["dtype"] = static_cast<std::int64_t>(dtype);
    return total / count;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const auto& hidden = saved[0];
    const auto& weight = saved[1];
    const auto& labels = saved[2];
    const auto& count = saved[3];
    const std::int64_t chunks = ctx->saved_data["chunks"].toInt();
    const auto dtype = static_cast<at::ScalarType>(ctx->saved_data["dtype"].toInt());
    NoAutocast off(hidden.device().type());
    const auto w = weight.to(dtype);
    // d(mean loss)/d(logit) = (softmax - one_hot(label)) / count on valid tokens, 0 elsewhere.
    const auto scale = grad_out[0].to(torch::kFloat32) / count;
    const auto valid = labels.ne(kIgnoreIndex);
    const auto targets = labels.clamp_min(0);
    const std::int64_t n = hidden.size(0);
    const std::int64_t per = std::max<std::int64_t>(1, (n + chunks - 1) / chunks);
    auto grad_hidden = torch::empty_like(hidden);
    // In the compute dtype, as the plain path's projection produces it; each slice adds into it.
    auto grad_w = torch::zeros_like(w);
    for (std::int64_t begin = 0; begin < n; begin += per) {
      const std::int64_t len = std::min(per, n - begin);
      const auto h = hidden.narrow(0, begin, len).to(dtype);
      auto d = torch::softmax(slice_logits(h, w, dtype), 1);
      d.scatter_add_(1, targets.narrow(0, begin, len).unsqueeze(1), torch::full({len, 1}, -1.0, d.options()));
      d.mul_((valid.narrow(0, begin, len).to(torch::kFloat32) * scale).unsqueeze(1));
      const auto d_low = d.to(dtype);
      grad_hidden.narrow(0, begin, len).copy_(torch::mm(d_low, w));
      grad_w.addmm_(d_low.t(), h);
    }
    return {grad_hidden, grad_w.to(weight.scalar_type()), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor chunked_cross_entropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                    const torch::Tensor& labels, std::int64_t chunks) {
  TORCH_CHECK(chunks >= 1, "chunked_cross_entropy needs at least one chunk");
  return ChunkedCrossEntropy::apply(hidden.reshape({-1, hidden.size(-1)}), weight, labels.reshape({-1}),
                                    chunks);
}

}  // namespace optiscope
