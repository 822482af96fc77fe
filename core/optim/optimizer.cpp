#include "optim/optimizer.h"

#include <stdexcept>

#include "optim/blockwise_adamw.h"
#include "optim/torch_adamw.h"

namespace optiscope::optim {

void Optimizer::zero_grad() {
  for (auto& p : params_) p.mutable_grad() = torch::Tensor();
}

std::int64_t tensor_bytes(const torch::Tensor& t) {
  return t.defined() ? static_cast<std::int64_t>(t.numel() * t.element_size()) : 0;
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, std::vector<torch::Tensor> params,
                                          const OptimizerOptions& options) {
  if (name == "adamw_torch") return std::make_unique<TorchAdamW>(std::move(params), options, false);
  if (name == "adamw_torch_fused") return std::make_unique<TorchAdamW>(std::move(params), options, true);
  if (name == "adamw_32bit") return std::make_unique<BlockwiseAdamW>(std::move(params), options, StateBits::b32, false);
  if (name == "adamw_8bit") return std::make_unique<BlockwiseAdamW>(std::move(params), options, StateBits::b8, false);
  if (name == "paged_adamw_32bit")
    return std::make_unique<BlockwiseAdamW>(std::move(params), options, StateBits::b32, true);
  if (name == "paged_adamw_8bit") return std::make_unique<BlockwiseAdamW>(std::move(params), options, StateBits::b8, true);
  throw std::invalid_argument("optimizer '" + name + "' is not available in this build");
}

}  // namespace optiscope::optim
