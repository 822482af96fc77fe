#include "optim/optimizer.h"

#include <cstdio>
#include <stdexcept>

#include "optim/blockwise_adamw.h"
#include "optim/state_file.h"
#include "optim/torch_adamw.h"

namespace optiscope::optim {

void Optimizer::zero_grad() {
  for (auto& p : params_) p.mutable_grad() = torch::Tensor();
}

void Optimizer::save(const std::string& path) const {
  StateFileWriter out;
  out.metadata("format", "optiscope.optimizer_state");
  out.metadata("format_version", "1");
  out.metadata("variant", name());
  out.metadata("params", std::to_string(params_.size()));
  save_state(out);
  out.write(path);
}

void Optimizer::load(const std::string& path) {
  load_state(StateFileReader(path));
}

void Optimizer::record_options(StateFileWriter& out, const OptimizerOptions& o) {
  const auto num = [](double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", x);
    return std::string(buf);
  };
  out.metadata("lr", num(o.lr));
  out.metadata("beta1", num(o.beta1));
  out.metadata("beta2", num(o.beta2));
  out.metadata("eps", num(o.eps));
  out.metadata("weight_decay", num(o.weight_decay));
  out.metadata("min_8bit_size", std::to_string(o.min_8bit_size));
}

std::int64_t tensor_bytes(const torch::Tensor& t) {
  return t.defined() ? static_cast<std::int64_t>(t.numel() * t.element_size()) : 0;
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, std::vector<torch::Tensor> params,
                                          const OptimizerOptions& options) {
  if (name == "adamw_torch") return std::make_unique<TorchAdamW>(std::move(params), options, false);
  if (name == "adamw_torch_fused") return std::make_unique<TorchAdamW>(std::move(params), options, true);
  struct Blockwise {
    const char* name;
    StateBits bits;
    Placement placement;
  };
  static constexpr Blockwise kBlockwise[] = {{"adamw_32bit", StateBits::b32, Placement::device},
                                             {"adamw_8bit", StateBits::b8, Placement::device},
                                             {"paged_adamw_32bit", StateBits::b32, Placement::paged},
                                             {"paged_adamw_8bit", StateBits::b8, Placement::paged},
                                             {"offload_adamw_32bit", StateBits::b32, Placement::offload},
                                             {"offload_adamw_8bit", StateBits::b8, Placement::offload}};
  for (const auto& b : kBlockwise)
    if (name == b.name)
      return std::make_unique<BlockwiseAdamW>(std::move(params), options, b.bits, b.placement);
  throw std::invalid_argument("optimizer '" + name + "' is not available in this build");
}

}  // namespace optiscope::optim
