#include "optim/blockwise_adamw.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <stdexcept>

#include "optim/dynamic_map.h"
#include "optim/state_file.h"

namespace optiscope::optim {
namespace {

torch::Tensor dequantize(const torch::Tensor& codes, const torch::Tensor& absmax, bool is_signed) {
  const auto c = codes.to(torch::kCPU).contiguous();
  const auto a = absmax.to(torch::kCPU).contiguous();
  auto out = torch::empty(c.sizes(), torch::kFloat32);
  dequantize_blockwise(c.data_ptr<std::uint8_t>(), a.data_ptr<float>(), is_signed, out.data_ptr<float>(),
                       c.numel());
  return out;
}

}  // namespace

BlockwiseAdamW::BlockwiseAdamW(std::vector<torch::Tensor> params, const OptimizerOptions& options,
                               StateBits bits, Placement placement)
    : Optimizer(std::move(params)), options_(options), bits_(bits), placement_(placement) {
  for (const auto& p : params_) {
    if (p.scalar_type() != torch::kFloat32 && p.scalar_type() != torch::kBFloat16)
      throw std::invalid_argument("adamw_32bit/adamw_8bit support float32 and bfloat16 parameters");
    state_.push_back(make_state(p, state_.size()));
    any_offloaded_ = any_offloaded_ || state_.back().offloaded;
  }
}

BlockwiseAdamW::~BlockwiseAdamW() {
  // Copies back to pinned memory may still be in flight; the memory must outlive them.
  try {
    wait_offloaded();
  } catch (...) {  // NOLINT(bugprone-empty-catch): a failed device cannot be waited for any more
  }
}

bool BlockwiseAdamW::wants_8bit(const torch::Tensor& p, std::size_t index) const {
  const std::int64_t whole = index < options_.whole_numel.size() ? options_.whole_numel[index] : p.numel();
  return bits_ == StateBits::b8 && whole >= options_.min_8bit_size;
}

std::string BlockwiseAdamW::name() const {
  const std::string base = bits_ == StateBits::b8 ? "adamw_8bit" : "adamw_32bit";
  if (placement_ == Placement::paged) return "paged_" + base;
  if (placement_ == Placement::offload) return "offload_" + base;
  return base;
}

std::string BlockwiseAdamW::note() const {
  if (placement_ == Placement::device) return {};
  for (const auto& p : params_) {
    if (p.is_cuda()) return {};
  }
  const std::string twin = bits_ == StateBits::b8 ? "adamw_8bit" : "adamw_32bit";
  return name() + " on a CPU run: " + (placement_ == Placement::paged ? "paging" : "offloading") +
         " applies to CUDA runs only; the state stays in CPU memory and the numbers are " + twin + "'s";
}

Placement BlockwiseAdamW::placement_of(std::size_t i) const {
  const auto& s = state_.at(i);
  return s.paged ? Placement::paged : s.offloaded ? Placement::offload : Placement::device;
}

AdamHyper BlockwiseAdamW::hyper(int step) const {
  // bitsandbytes passes hyper-parameters to its kernels as float32.
  return AdamHyper{static_cast<float>(options_.lr),           static_cast<float>(options_.beta1),
                   static_cast<float>(options_.beta2),        static_cast<float>(options_.eps),
                   static_cast<float>(options_.weight_decay), step};
}

StateBytes BlockwiseAdamW::state_bytes() const {
  StateBytes b;
  for (const auto& s : state_) {
    const std::int64_t moments = tensor_bytes(s.m) + tensor_bytes(s.v);
    (s.paged ? b.managed : s.offloaded ? b.host : b.device) += moments;
    b.device += tensor_bytes(s.absmax_m) + tensor_bytes(s.absmax_v);
  }
  // The offload pipeline's staging slots: device memory only this optimizer uses.
  b.device += tensor_bytes(staging_);
  return b;
}

torch::Tensor BlockwiseAdamW::first_moment(std::size_t i) const {
  const auto& s = state_.at(i);
  if (s.offloaded) wait_offloaded();
  return s.eight_bit ? dequantize(s.m, s.absmax_m, true) : s.m.to(torch::kCPU);
}

torch::Tensor BlockwiseAdamW::second_moment(std::size_t i) const {
  const auto& s = state_.at(i);
  if (s.offloaded) wait_offloaded();
  return s.eight_bit ? dequantize(s.v, s.absmax_v, false) : s.v.to(torch::kCPU);
}

void BlockwiseAdamW::step() {
  torch::NoGradGuard no_grad;
  // The first chunks of offloaded state start coming in while the device-resident ones update.
  if (any_offloaded_) begin_offload();
  std::vector<std::size_t> offloaded;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i];
    if (!p.grad().defined()) continue;
    auto& s = state_[i];
    ++s.step;
    if (s.offloaded) {
      offloaded.push_back(i);
    } else if (p.is_cuda()) {
      step_cuda(p, s);
    } else {
      step_cpu(p, s);
    }
  }
  if (!offloaded.empty()) step_offloaded(offloaded);
}

// The same update as step() gives this parameter. Offloaded state goes through the pipeline as a
// list of one: its copies start when the gradient exists instead of overlapping the other
// tensors' updates, which costs time, not bits.
void BlockwiseAdamW::step_param(std::size_t i) {
  torch::NoGradGuard no_grad;
  auto& p = params_.at(i);
  if (!p.grad().defined()) return;
  auto& s = state_[i];
  ++s.step;
  if (s.offloaded) {
    begin_offload();
    step_offloaded({i});
  } else if (p.is_cuda()) {
    step_cuda(p, s);
  } else {
    step_cpu(p, s);
  }
}

void BlockwiseAdamW::step_cpu(torch::Tensor& p, State& s) {
  if (!p.is_contiguous()) throw std::runtime_error("BlockwiseAdamW needs contiguous parameters");
  const auto g = p.grad().contiguous();
  const AdamHyper h = hyper(s.step);
  const std::int64_t n = p.numel();
  // Chunks of whole quantization blocks run in parallel; each owns its absmax entries.
  constexpr std::int64_t kGrain = 64 * kQuantBlock;
  auto run = [&](auto* pp, const auto* gp) {
    at::parallel_for(0, quant_blocks(n), kGrain / kQuantBlock, [&](std::int64_t b0, std::int64_t b1) {
      const std::int64_t begin = b0 * kQuantBlock;
      const std::int64_t len = std::min(n, b1 * kQuantBlock) - begin;
      if (s.eight_bit) {
        adamw8bit_blockwise_update(pp + begin, gp + begin, s.m.data_ptr<std::uint8_t>() + begin,
                                   s.v.data_ptr<std::uint8_t>() + begin, s.absmax_m.data_ptr<float>() + b0,
                                   s.absmax_v.data_ptr<float>() + b0, len, h);
      } else {
        adamw32_update(pp + begin, gp + begin, s.m.data_ptr<float>() + begin, s.v.data_ptr<float>() + begin,
                       len, h);
      }
    });
  };
  if (p.scalar_type() == torch::kFloat32) {
    run(p.data_ptr<float>(), g.data_ptr<float>());
  } else {
    // bfloat16: c10::BFloat16 and Bf16 share their 16-bit layout.
    run(reinterpret_cast<Bf16*>(p.data_ptr<at::BFloat16>()),
        reinterpret_cast<const Bf16*>(g.data_ptr<at::BFloat16>()));
  }
}

// ---------------------------------------------------------------------------------------------
// State files (layout in state_file.h): bitsandbytes' names, the same for every placement.

namespace {

std::string layout_of(StateBits bits) {
  return bits == StateBits::b8 ? "blockwise_adamw_8bit" : "blockwise_adamw_32bit";
}

torch::Tensor map_tensor(const QuantMap& map) {
  return torch::from_blob(const_cast<float*>(map.data()), {256}, torch::kFloat32).clone();
}

}  // namespace

void BlockwiseAdamW::save_state(StateFileWriter& out) const {
  out.metadata("layout", layout_of(bits_));
  record_options(out, options_);
  wait_offloaded();
  bool any_8bit = false;
  for (std::size_t i = 0; i < state_.size(); ++i) {
    const State& s = state_[i];
    const std::string prefix = "state." + std::to_string(i) + ".";
    out.add(prefix + "step", torch::scalar_tensor(static_cast<std::int64_t>(s.step), torch::kInt64));
    out.add(prefix + "state1", s.m);
    out.add(prefix + "state2", s.v);
    if (s.eight_bit) {
      out.add(prefix + "absmax1", s.absmax_m);
      out.add(prefix + "absmax2", s.absmax_v);
      any_8bit = true;
    }
  }
  if (any_8bit) {
    out.add("qmap1", map_tensor(signed_dynamic_map()));
    out.add("qmap2", map_tensor(unsigned_dynamic_map()));
  }
}

void BlockwiseAdamW::load_state(const StateFileReader& in) {
  expect_layout(in, layout_of(bits_), state_.size());
  // Everything is checked before anything is overwritten: a refused file leaves the state as it was.
  const auto check = [&](const std::string& name, const torch::Tensor& t) {
    if (in.dtype(name) != t.scalar_type() || c10::IntArrayRef(in.shape(name)) != t.sizes())
      throw std::runtime_error("optimizer state file: " + name + " does not match this optimizer's state (" +
                               "different parameter shapes or min_8bit_size?)");
  };
  bool any_8bit = false;
  for (std::size_t i = 0; i < state_.size(); ++i) {
    const State& s = state_[i];
    const std::string prefix = "state." + std::to_string(i) + ".";
    if (in.shape(prefix + "step").size() != 0)
      throw std::runtime_error("optimizer state file: bad " + prefix + "step");
    check(prefix + "state1", s.m);
    check(prefix + "state2", s.v);
    if (s.eight_bit) {
      check(prefix + "absmax1", s.absmax_m);
      check(prefix + "absmax2", s.absmax_v);
      any_8bit = true;
    }
  }
  // Codes only mean something with the maps they were made with.
  if (any_8bit && (!torch::equal(in.read("qmap1"), map_tensor(signed_dynamic_map())) ||
                   !torch::equal(in.read("qmap2"), map_tensor(unsigned_dynamic_map()))))
    throw std::runtime_error("optimizer state file: its quantization maps differ from this build's");
  wait_offloaded();
  for (std::size_t i = 0; i < state_.size(); ++i) {
    State& s = state_[i];
    const std::string prefix = "state." + std::to_string(i) + ".";
    s.step = static_cast<int>(in.read(prefix + "step").item<std::int64_t>());
    in.read_into(prefix + "state1", s.m);
    in.read_into(prefix + "state2", s.v);
    if (s.eight_bit) {
      in.read_into(prefix + "absmax1", s.absmax_m);
      in.read_into(prefix + "absmax2", s.absmax_v);
    }
  }
}

}  // namespace optiscope::optim
