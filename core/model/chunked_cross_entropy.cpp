#include "model/chunked_cross_entropy.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <algorithm>

#include "model/fused_ops.h"

namespace optiscope {
namespace {

constexpr std::int64_t kIgnoreIndex = -100;

// Autocast off inside the loss: the dtypes are chosen explicitly (the one forward recorded), and the
// gradients computed here must use the same ones the plain path's backward would.
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

/// Each row's loss into `loss` and, when write_grad, d(mean loss)/d(logits) in place of `logits`
/// (the compute dtype's logits of one slice, [len, V]): the fused kernel where it applies,
/// otherwise LibTorch ops in float32, as the plain path's loss widens the logits.
void cross_entropy_slice(const torch::Tensor& logits, const torch::Tensor& labels,
                         const torch::Tensor& inv_count, const torch::Tensor& loss, bool write_grad) {
  if (fused::can_cross_entropy_rows(logits, labels)) {
    fused::cross_entropy_rows(logits, labels, inv_count, loss, write_grad);
    return;
  }
  const auto valid = labels.ne(kIgnoreIndex);
  const auto targets = labels.clamp_min(0).unsqueeze(1);
  const auto wide = logits.to(torch::kFloat32);
  const auto lse = torch::logsumexp(wide, 1, /*keepdim=*/true);
  const auto token_loss = (lse - wide.gather(1, targets)).squeeze(1);
  loss.copy_(torch::where(valid, token_loss, torch::zeros_like(token_loss)));
  if (!write_grad) return;
  // (softmax - one_hot(label)) / count on rows that count, 0 elsewhere.
  auto d = (wide - lse).exp_();
  d.scatter_add_(1, targets, torch::full({logits.size(0), 1}, -1.0, d.options()));
  d.mul_((valid.to(torch::kFloat32) * inv_count).unsqueeze(1));
  logits.copy_(d);
}

struct LossAndGradients {
  torch::Tensor loss;
  torch::Tensor grad_hidden;  // [N, H] in the compute dtype; undefined unless asked for
  torch::Tensor grad_weight;  // [V, H] in the compute dtype; undefined unless asked for
};

// hidden [N, H], weight [V, H], labels [N]; autocast already off, `dtype` the compute dtype.
LossAndGradients linear_cross_entropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                      const torch::Tensor& labels, std::int64_t chunks, at::ScalarType dtype,
                                      bool want_grad_hidden, bool want_grad_weight) {
  const auto w = weight.to(dtype);
  const auto targets = labels.contiguous();
  const std::int64_t n = hidden.size(0);
  const std::int64_t per = std::max<std::int64_t>(1, (n + chunks - 1) / chunks);
  // On the device: no host synchronisation for the count.
  const auto inv_count = targets.ne(kIgnoreIndex).sum().to(torch::kFloat32).reciprocal();
  auto loss = torch::empty({n}, hidden.options().dtype(torch::kFloat32));
  LossAndGradients out;
  if (want_grad_hidden) out.grad_hidden = torch::empty({n, hidden.size(1)}, hidden.options().dtype(dtype));
  if (want_grad_weight) out.grad_weight = torch::empty_like(w);
  const bool write_grad = want_grad_hidden || want_grad_weight;
  for (std::int64_t begin = 0; begin < n; begin += per) {
    const std::int64_t len = std::min(per, n - begin);
    const auto h = hidden.narrow(0, begin, len).to(dtype);
    // The compute dtype's logits, as the plain path's lm_head produces them; after the slice's
    // cross-entropy they hold its gradient.
    auto logits = torch::mm(h, w.t());
    cross_entropy_slice(logits, targets.narrow(0, begin, len), inv_count, loss.narrow(0, begin, len),
                        write_grad);
    if (want_grad_hidden) {
      auto slice = out.grad_hidden.narrow(0, begin, len);
      torch::mm_out(slice, logits, w);
    }
    if (want_grad_weight) {
      if (begin == 0)
        torch::mm_out(out.grad_weight, logits.t(), h);
      else
        out.grad_weight.addmm_(logits.t(), h);
    }
  }
  out.loss = loss.sum() * inv_count;
  return out;
}

at::ScalarType compute_dtype(const torch::Tensor& hidden) {
  const auto device_type = hidden.device().type();
  return at::autocast::is_autocast_enabled(device_type) ? at::autocast::get_autocast_dtype(device_type)
                                                        : hidden.scalar_type();
}

class FusedLinearCrossEntropy : public torch::autograd::Function<FusedLinearCrossEntropy> {
 public:
  // hidden [N, H], weight [V, H], labels [N].
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor hidden,
                               torch::Tensor weight, torch::Tensor labels, std::int64_t chunks,
                               bool want_grad_hidden, bool want_grad_weight) {
    const auto dtype = compute_dtype(hidden);
    NoAutocast off(hidden.device().type());
    auto r = linear_cross_entropy(hidden, weight, labels, chunks, dtype, want_grad_hidden, want_grad_weight);
    ctx->save_for_backward({r.grad_hidden, r.grad_weight});
    ctx->saved_data["hidden_dtype"] = static_cast<std::int64_t>(hidden.scalar_type());
    ctx->saved_data["weight_dtype"] = static_cast<std::int64_t>(weight.scalar_type());
    ctx->saved_data["used"] = false;
    return r.loss;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    // The kept gradients are scaled in place (a second copy of the weight's gradient would raise the
    // step's peak), so they serve one backward only.
    TORCH_CHECK(!ctx->saved_data["used"].toBool(),
                "chunked_cross_entropy: backward ran twice through one loss (retain_graph is not supported)");
    ctx->saved_data["used"] = true;
    const auto saved = ctx->get_saved_variables();
    auto grad_hidden = saved[0];
    auto grad_weight = saved[1];
    const auto g = grad_out[0].to(torch::kFloat32);
    if (grad_hidden.defined()) {
      grad_hidden.mul_(g);
      grad_hidden = grad_hidden.to(static_cast<at::ScalarType>(ctx->saved_data["hidden_dtype"].toInt()));
    }
    if (grad_weight.defined()) {
      grad_weight.mul_(g);
      grad_weight = grad_weight.to(static_cast<at::ScalarType>(ctx->saved_data["weight_dtype"].toInt()));
    }
    return {grad_hidden, grad_weight, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor chunked_cross_entropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                    const torch::Tensor& labels, std::int64_t chunks) {
  TORCH_CHECK(chunks >= 1, "chunked_cross_entropy needs at least one chunk");
  const auto h = hidden.reshape({-1, hidden.size(-1)});
  const auto l = labels.reshape({-1});
  const bool grad = torch::GradMode::is_enabled();
  const bool want_h = grad && h.requires_grad();
  const bool want_w = grad && weight.requires_grad();
  if (want_h || want_w) return FusedLinearCrossEntropy::apply(h, weight, l, chunks, want_h, want_w);
  // Evaluation: the loss alone, no autograd node.
  const auto dtype = compute_dtype(h);
  NoAutocast off(h.device().type());
  return linear_cross_entropy(h, weight, l, chunks, dtype, false, false).loss;
}

}  // namespace optiscope
