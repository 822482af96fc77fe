#include "checkpoint/gguf_weights.h"

#include <set>

#include "checkpoint/gguf_dequant.h"
#include "checkpoint/gguf_llama.h"
#include "checkpoint/mapped_file.h"

namespace optiscope::checkpoint {
namespace {

// llama.cpp's converter stores Q and K rows per head as [half, 2] instead of transformers' [2,
// half] (convert_hf_to_gguf.py, LlamaModel.permute); this is its inverse.
torch::Tensor unpermute_rows(const torch::Tensor& w, std::int64_t heads) {
  const auto rows = w.size(0);
  return w.reshape({heads, rows / heads / 2, 2, w.size(1)}).transpose(1, 2).reshape({rows, w.size(1)});
}

}  // namespace

void load_gguf_weights(const std::filesystem::path& file, LlamaForCausalLMImpl& model) {
  const std::string what = file.string();
  const MappedFile mapped(file);
  const GgufHeader h = parse_gguf(mapped.bytes(), what);
  const LlamaConfig& config = model.config();
  check_gguf_tensors(h, config, what);
  auto params = model.named_parameters(/*recurse=*/true);
  std::set<std::string> loaded;
  torch::NoGradGuard no_grad;
  for (const auto& t : h.tensors) {
    const auto name = hf_parameter_name(t.name);
    auto* param = name ? params.find(*name) : nullptr;
    if (param == nullptr) throw CheckpointError(what + ": tensor '" + t.name + "' has no place in the model");
    auto values = torch::empty(t.shape, torch::kFloat32);
    const auto bytes = mapped.bytes().substr(h.data_start + t.offset, t.bytes);
    dequantize(t.type, bytes, t.numel(), values.data_ptr<float>());
    if (gguf_rows_permuted(t.name))
      values = unpermute_rows(values, t.name.ends_with(".attn_q.weight") ? config.num_attention_heads
                                                                         : config.num_key_value_heads);
    param->copy_(values);
    loaded.insert(*name);
  }
  for (const auto& p : params)
    if (loaded.count(p.key()) == 0) throw CheckpointError(what + " lacks the weight '" + p.key() + "'");
}

}  // namespace optiscope::checkpoint
