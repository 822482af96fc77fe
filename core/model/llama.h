#pragma once
// A Llama 3.x decoder in LibTorch. Parameter names follow Hugging Face's LlamaForCausalLM
// ("model.layers.0.self_attn.q_proj.weight", ...) so checkpoints load by name.
#include <torch/nn.h>

#include "model/llama_config.h"

namespace optiscope {

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(std::int64_t size, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

/// cos/sin tables for rotary positions, with Llama 3's frequency scaling.
class RotaryEmbedding {
 public:
  explicit RotaryEmbedding(const LlamaConfig& config);
  /// [seq, head_dim] cos and sin for positions 0..seq-1, in dtype on device.
  std::pair<torch::Tensor, torch::Tensor> tables(std::int64_t seq, torch::Dtype dtype, torch::Device device);
  const torch::Tensor& inv_freq() const { return inv_freq_; }

 private:
  torch::Tensor inv_freq_;  // float32 [head_dim / 2]
  std::int64_t cached_seq_ = -1;
  torch::Tensor cos_;
  torch::Tensor sin_;
};

class LlamaAttentionImpl : public torch::nn::Module {
 public:
  explicit LlamaAttentionImpl(const LlamaConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};

 private:
  std::int64_t heads_, kv_heads_, head_dim_;
};
TORCH_MODULE(LlamaAttention);

class LlamaMLPImpl : public torch::nn::Module {
 public:
  explicit LlamaMLPImpl(const LlamaConfig& c);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(LlamaMLP);

class LlamaDecoderLayerImpl : public torch::nn::Module {
 public:
  explicit LlamaDecoderLayerImpl(const LlamaConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);
  LlamaAttention self_attn{nullptr};
  LlamaMLP mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(LlamaDecoderLayer);

class LlamaModelImpl : public torch::nn::Module {
 public:
  explicit LlamaModelImpl(const LlamaConfig& c);
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers;
  RMSNorm norm{nullptr};
};
TORCH_MODULE(LlamaModel);

class LlamaForCausalLMImpl : public torch::nn::Module {
 public:
  explicit LlamaForCausalLMImpl(const LlamaConfig& c);
  /// input_ids [batch, seq] int64 -> logits [batch, seq, vocab].
  torch::Tensor forward(const torch::Tensor& input_ids);
  /// The final normed hidden states [batch, seq, hidden] that the output projection turns into logits.
  torch::Tensor hidden_states(const torch::Tensor& input_ids);
  /// The output projection's weight [vocab, hidden]: lm_head's, or the embeddings' when tied.
  torch::Tensor output_weight() const;
  /// Mean cross-entropy of next-token prediction; labels equal to -100 are ignored.
  torch::Tensor loss(const torch::Tensor& logits, const torch::Tensor& labels);
  /// The same loss from the hidden states, fused with the output projection and made `chunks`
  /// slices of tokens at a time (chunked_cross_entropy.h): the whole batch's logits never exist.
  torch::Tensor chunked_loss(const torch::Tensor& hidden, const torch::Tensor& labels, std::int64_t chunks);
  /// Re-draws weights the way transformers' _init_weights does (normal(0, initializer_range)).
  void reset_parameters(std::uint64_t seed);
  /// Activation checkpointing (transformers' gradient_checkpointing_enable): in training with
  /// gradients on, each layer's activations are recomputed in backward instead of kept.
  void set_gradient_checkpointing(bool on) { gradient_checkpointing_ = on; }
  bool gradient_checkpointing() const { return gradient_checkpointing_; }
  const LlamaConfig& config() const { return config_; }

  LlamaModel model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // absent (nullptr) when embeddings are tied

 private:
  LlamaConfig config_;
  RotaryEmbedding rope_;
  bool gradient_checkpointing_ = false;
};
TORCH_MODULE(LlamaForCausalLM);

}  // namespace optiscope
