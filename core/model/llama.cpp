#include "model/llama.h"

#include "model/fused_ops.h"
#include "model/layer_checkpoint.h"

#include <cmath>
#include <numbers>

namespace optiscope {
namespace {

torch::nn::Linear linear(std::int64_t in, std::int64_t out) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false));
}

torch::Tensor rotate_half(const torch::Tensor& x) {
  const auto half = x.size(-1) / 2;
  return torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

// q [b, t, heads, d] and k [b, t, kv_heads, d] rotated, returned heads-first ([b, heads, t, d]) for
// attention: one fused kernel where it applies, else the LibTorch ops (transformers' formula).
std::pair<torch::Tensor, torch::Tensor> apply_rotary(const torch::Tensor& q, const torch::Tensor& k,
                                                     const torch::Tensor& cos, const torch::Tensor& sin) {
  if (fused::can_rope(q, k, cos, sin)) {
    const auto [qr, kr] = fused::rope(q, k, cos, sin);
    return {qr.transpose(1, 2), kr.transpose(1, 2)};
  }
  const auto qt = q.transpose(1, 2);
  const auto kt = k.transpose(1, 2);
  const auto c = cos.unsqueeze(0).unsqueeze(0);
  const auto s = sin.unsqueeze(0).unsqueeze(0);
  return {qt * c + rotate_half(qt) * s, kt * c + rotate_half(kt) * s};
}

// Llama 3 frequency scaling: long wavelengths are divided by the factor, short ones kept, and the
// band between them interpolated (transformers' _compute_llama3_parameters).
torch::Tensor llama3_scaled(const torch::Tensor& inv_freq, const LlamaConfig& c) {
  const double factor = c.rope_scaling_factor;
  const double old_len = static_cast<double>(c.rope_original_max_position_embeddings);
  const double low_wavelen = old_len / c.rope_low_freq_factor;
  const double high_wavelen = old_len / c.rope_high_freq_factor;
  const auto wavelen = 2.0 * std::numbers::pi / inv_freq;
  auto scaled = torch::where(wavelen > low_wavelen, inv_freq / factor, inv_freq);
  const auto smooth =
      (old_len / wavelen - c.rope_low_freq_factor) / (c.rope_high_freq_factor - c.rope_low_freq_factor);
  const auto smoothed = (1 - smooth) * scaled / factor + smooth * scaled;
  const auto is_medium =
      torch::logical_not(wavelen < high_wavelen).logical_and(torch::logical_not(wavelen > low_wavelen));
  return torch::where(is_medium, smoothed, scaled);
}

}  // namespace

RMSNormImpl::RMSNormImpl(std::int64_t size, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({size}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  if (fused::can_rms_norm(x, weight)) return fused::rms_norm(x, weight, eps_);
  // In float32 whatever the input, as transformers does, then back to the input's dtype.
  const auto xf = x.to(torch::kFloat32);
  const auto normed = xf * torch::rsqrt(xf.pow(2).mean(-1, true) + eps_);
  return weight * normed.to(x.scalar_type());
}

RotaryEmbedding::RotaryEmbedding(const LlamaConfig& c) {
  const auto exponents =
      torch::arange(0, c.head_dim, 2, torch::kInt64).to(torch::kFloat32) / static_cast<double>(c.head_dim);
  inv_freq_ = 1.0 / torch::pow(torch::tensor(c.rope_theta, torch::kFloat32), exponents);
  if (c.rope_scaling_factor > 0.0) inv_freq_ = llama3_scaled(inv_freq_, c);
}

std::pair<torch::Tensor, torch::Tensor> RotaryEmbedding::tables(std::int64_t seq, torch::Dtype dtype,
                                                                torch::Device device) {
  if (seq != cached_seq_ || cos_.device() != device || cos_.scalar_type() != dtype) {
    const auto positions = torch::arange(seq, torch::TensorOptions().dtype(torch::kFloat32).device(device));
    const auto freqs = torch::outer(positions, inv_freq_.to(device));
    const auto emb = torch::cat({freqs, freqs}, -1);
    cos_ = emb.cos().to(dtype);
    sin_ = emb.sin().to(dtype);
    cached_seq_ = seq;
  }
  return {cos_, sin_};
}

LlamaAttentionImpl::LlamaAttentionImpl(const LlamaConfig& c)
    : heads_(c.num_attention_heads), kv_heads_(c.num_key_value_heads), head_dim_(c.head_dim) {
  q_proj = register_module("q_proj", linear(c.hidden_size, heads_ * head_dim_));
  k_proj = register_module("k_proj", linear(c.hidden_size, kv_heads_ * head_dim_));
  v_proj = register_module("v_proj", linear(c.hidden_size, kv_heads_ * head_dim_));
  o_proj = register_module("o_proj", linear(heads_ * head_dim_, c.hidden_size));
}

torch::Tensor LlamaAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                          const torch::Tensor& sin) {
  const auto b = x.size(0);
  const auto t = x.size(1);
  const auto [q, k] = apply_rotary(q_proj(x).view({b, t, heads_, head_dim_}),
                                   k_proj(x).view({b, t, kv_heads_, head_dim_}), cos, sin);
  const auto v = v_proj(x).view({b, t, kv_heads_, head_dim_}).transpose(1, 2);
  // Fused attention (flash / memory-efficient kernels on CUDA); grouped-query heads are expanded
  // inside the kernel rather than materialised.
  const auto attn = at::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true, std::nullopt,
                                                     /*enable_gqa=*/kv_heads_ != heads_);
  return o_proj(attn.transpose(1, 2).reshape({b, t, heads_ * head_dim_}));
}

LlamaMLPImpl::LlamaMLPImpl(const LlamaConfig& c) {
  gate_proj = register_module("gate_proj", linear(c.hidden_size, c.intermediate_size));
  up_proj = register_module("up_proj", linear(c.hidden_size, c.intermediate_size));
  down_proj = register_module("down_proj", linear(c.intermediate_size, c.hidden_size));
}

torch::Tensor LlamaMLPImpl::forward(const torch::Tensor& x) {
  const auto gate = gate_proj(x);
  const auto up = up_proj(x);
  return down_proj(fused::can_swiglu(gate, up) ? fused::swiglu(gate, up) : torch::silu(gate) * up);
}

LlamaDecoderLayerImpl::LlamaDecoderLayerImpl(const LlamaConfig& c) {
  self_attn = register_module("self_attn", LlamaAttention(c));
  mlp = register_module("mlp", LlamaMLP(c));
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

torch::Tensor LlamaDecoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                             const torch::Tensor& sin) {
  auto h = x + self_attn(input_layernorm(x), cos, sin);
  return h + mlp(post_attention_layernorm(h));
}

LlamaModelImpl::LlamaModelImpl(const LlamaConfig& c) {
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(c.vocab_size, c.hidden_size));
  layers = register_module("layers", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(LlamaDecoderLayer(c));
  norm = register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

LlamaForCausalLMImpl::LlamaForCausalLMImpl(const LlamaConfig& c) : config_(c), rope_(c) {
  model = register_module("model", LlamaModel(c));
  if (!c.tie_word_embeddings) lm_head = register_module("lm_head", linear(c.hidden_size, c.vocab_size));
}

torch::Tensor LlamaForCausalLMImpl::forward(const torch::Tensor& input_ids) {
  auto h = model->embed_tokens(input_ids);
  const auto [cos, sin] = rope_.tables(input_ids.size(1), h.scalar_type(), h.device());
  const bool recompute = gradient_checkpointing_ && is_training() && torch::GradMode::is_enabled();
  for (const auto& module : *model->layers) {
    auto layer = std::dynamic_pointer_cast<LlamaDecoderLayerImpl>(module);
    // The reentrant checkpoint only sees gradients flowing through its input: the embedding
    // output needs grad, as it does whenever the embeddings are trained.
    h = recompute && h.requires_grad() ? checkpointed_layer(layer, h, cos, sin) : layer->forward(h, cos, sin);
  }
  h = model->norm(h);
  return lm_head ? lm_head(h) : torch::nn::functional::linear(h, model->embed_tokens->weight);
}

torch::Tensor LlamaForCausalLMImpl::loss(const torch::Tensor& logits, const torch::Tensor& labels) {
  // Float32 logits for the loss, as transformers' ForCausalLMLoss does.
  return torch::nn::functional::cross_entropy(
      logits.reshape({-1, logits.size(-1)}).to(torch::kFloat32), labels.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
}

void LlamaForCausalLMImpl::reset_parameters(std::uint64_t seed) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(seed);
  for (auto& p : named_parameters()) {
    const auto& name = p.key();
    if (name.ends_with("layernorm.weight") || name.ends_with("norm.weight")) {
      p.value().fill_(1.0);
    } else {
      p.value().normal_(0.0, config_.initializer_range);
    }
  }
}

}  // namespace optiscope
