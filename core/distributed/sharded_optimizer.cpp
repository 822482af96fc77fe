#include "distributed/sharded_optimizer.h"

#include <torch/torch.h>

#include <stdexcept>

namespace optiscope::distributed {

ShardRange shard_range(std::int64_t numel, int rank, int world_size) {
  ShardRange r;
  const std::int64_t even = (numel + world_size - 1) / world_size;
  r.chunk = std::max<std::int64_t>(kShardAlign, (even + kShardAlign - 1) / kShardAlign * kShardAlign);
  r.begin = std::min(numel, static_cast<std::int64_t>(rank) * r.chunk);
  r.length = std::min(numel, r.begin + r.chunk) - r.begin;
  return r;
}

std::int64_t ring_bytes_all_reduce(std::int64_t bytes, int world_size) {
  return 4 * (world_size - 1) * bytes / world_size;
}

std::int64_t ring_bytes_scatter_gather(std::int64_t bytes, int world_size) {
  return 2 * (world_size - 1) * bytes / world_size;
}

namespace {

void wait(const c10::intrusive_ptr<c10d::Work>& work) {
  if (!work->wait()) throw std::runtime_error("a collective of the process group failed");
}

}  // namespace

ShardedOptimizer::ShardedOptimizer(c10::intrusive_ptr<c10d::Backend> group, std::vector<torch::Tensor> params,
                                   int zero_stage, const std::string& variant,
                                   const optim::OptimizerOptions& options)
    : Optimizer(std::move(params)),
      group_(std::move(group)),
      stage_(zero_stage),
      rank_(group_->getRank()),
      world_(group_->getSize()) {
  if (stage_ < 0 || stage_ > 2) throw std::invalid_argument("zero_stage must be 0, 1 or 2");
  if (stage_ > 0 && (variant.rfind("paged_", 0) == 0 || variant.rfind("offload_", 0) == 0))
    throw std::invalid_argument(variant +
                                " cannot run over several ranks here: paged and offloaded state are "
                                "not sharded (use adamw_torch, adamw_32bit or adamw_8bit)");
  for (const auto& p : params_) {
    if (p.scalar_type() != params_.front().scalar_type())
      throw std::invalid_argument("a run over several ranks needs every parameter in one dtype");
    if (!p.is_contiguous())
      throw std::invalid_argument("a run over several ranks needs contiguous parameters");
  }
  for (const auto& p : params_) {
    ranges_.push_back(shard_range(p.numel(), rank_, world_));
    offsets_.push_back(segment_);
    segment_ += ranges_.back().chunk;
  }
  if (stage_ == 0) {
    inner_ = optim::make_optimizer(variant, params_, options);
    return;
  }
  optim::OptimizerOptions shard_options = options;
  shard_options.whole_numel.clear();
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (ranges_[i].length == 0) continue;
    owned_.push_back(i);
    // A view of the parameter's storage without autograd history: updating it updates the model.
    shards_.push_back(params_[i].detach().view(-1).narrow(0, ranges_[i].begin, ranges_[i].length));
    shard_options.whole_numel.push_back(params_[i].numel());
  }
  inner_ = optim::make_optimizer(variant, shards_, shard_options);
}

std::int64_t ShardedOptimizer::take_comm_bytes() {
  const std::int64_t b = comm_bytes_;
  comm_bytes_ = 0;
  return b;
}

void ShardedOptimizer::all_reduce(torch::Tensor& t) {
  std::vector<torch::Tensor> ts{t};
  wait(group_->allreduce(ts));
  comm_bytes_ += ring_bytes_all_reduce(optim::tensor_bytes(t), world_);
}

void ShardedOptimizer::pack_gradients(torch::Tensor& flat) {
  for (std::size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i];
    const auto g = p.grad().defined() ? p.grad().reshape(-1) : torch::zeros({p.numel()}, p.options());
    for (int r = 0; r < world_; ++r) {
      const ShardRange piece = shard_range(p.numel(), r, world_);
      if (piece.length == 0) continue;
      flat.narrow(0, static_cast<std::int64_t>(r) * segment_ + offsets_[i], piece.length)
          .copy_(g.narrow(0, piece.begin, piece.length));
    }
    p.mutable_grad() = torch::Tensor();
  }
}

void ShardedOptimizer::reduce_gradients() {
  torch::NoGradGuard no_grad;
  const auto opts = params_.front().options();
  if (stage_ == 0) {
    // DDP's bucket, as one: every gradient in one buffer, averaged, handed back as views.
    std::int64_t total = 0;
    for (const auto& p : params_) total += p.numel();
    flat_grad_ = torch::empty({total}, opts);
    std::int64_t at = 0;
    for (auto& p : params_) {
      auto slot = flat_grad_.narrow(0, at, p.numel());
      if (p.grad().defined()) {
        slot.copy_(p.grad().reshape(-1));
      } else {
        slot.zero_();
      }
      p.mutable_grad() = slot.view(p.sizes());
      at += p.numel();
    }
    all_reduce(flat_grad_);
    flat_grad_.div_(world_);
    return;
  }
  // Padding is zero so that it adds nothing to the sums or the norm.
  auto full = torch::zeros({segment_ * world_}, opts);
  pack_gradients(full);
  if (stage_ == 1) {
    // Stage 1 keeps the whole averaged gradient on every rank (what it saves is the state).
    all_reduce(full);
    full.div_(world_);
    flat_grad_ = full;
  } else {
    flat_grad_ = torch::empty({segment_}, opts);
    c10d::ReduceScatterOptions ro;
    bool done = false;
    if (!emulated_reduce_scatter_) {
      try {
        wait(group_->_reduce_scatter_base(flat_grad_, full, ro));
        comm_bytes_ += ring_bytes_scatter_gather(optim::tensor_bytes(full), world_);
        done = true;
      } catch (const c10::NotImplementedError&) {
        emulated_reduce_scatter_ = true;
      }
    }
    if (!done) {
      // A backend without reduce-scatter: all-reduce, keep this rank's segment.
      all_reduce(full);
      flat_grad_.copy_(segment(full, rank_));
    }
    full = torch::Tensor();  // the full gradients are gone before the update
    flat_grad_.div_(world_);
  }
  const auto mine = stage_ == 2 ? flat_grad_ : segment(flat_grad_, rank_);
  for (std::size_t k = 0; k < owned_.size(); ++k) {
    const std::size_t i = owned_[k];
    shards_[k].mutable_grad() = mine.narrow(0, offsets_[i], ranges_[i].length);
  }
}

void ShardedOptimizer::clip_grad_norm(double max_norm) {
  torch::NoGradGuard no_grad;
  if (!flat_grad_.defined()) return;
  torch::Tensor total;
  if (stage_ == 2) {
    // Each rank has its shard only: the global norm from the sum of the shards' squared norms.
    auto sq = flat_grad_.to(torch::kFloat32).square().sum().reshape({1});
    all_reduce(sq);
    total = sq.sqrt();
  } else {
    // Every rank holds the whole averaged gradient (padding is zero).
    total = torch::linalg_vector_norm(flat_grad_.to(torch::kFloat32), 2);
  }
  const auto coef = torch::clamp_max(max_norm / (total + 1e-6), 1.0);
  flat_grad_.mul_(coef.to(flat_grad_.scalar_type()));
}

void ShardedOptimizer::step() {
  inner_->step();
  // The shards' gradients are views of the buffer; gather_parameters() frees it.
  for (auto& s : shards_) s.mutable_grad() = torch::Tensor();
}

void ShardedOptimizer::gather_parameters() {
  torch::NoGradGuard no_grad;
  if (stage_ == 0) {
    flat_grad_ = torch::Tensor();  // zero_grad drops the views
    return;
  }
  flat_grad_ = torch::Tensor();
  const auto opts = params_.front().options();
  auto mine = torch::zeros({segment_}, opts);
  for (std::size_t k = 0; k < owned_.size(); ++k) {
    const std::size_t i = owned_[k];
    mine.narrow(0, offsets_[i], ranges_[i].length).copy_(shards_[k]);
  }
  auto all = torch::empty({segment_ * world_}, opts);
  wait(group_->_allgather_base(all, mine));
  comm_bytes_ += ring_bytes_scatter_gather(optim::tensor_bytes(all), world_);
  for (std::size_t i = 0; i < params_.size(); ++i) {
    auto flat = params_[i].detach().view(-1);
    for (int r = 0; r < world_; ++r) {
      if (r == rank_) continue;
      const ShardRange piece = shard_range(params_[i].numel(), r, world_);
      if (piece.length == 0) continue;
      flat.narrow(0, piece.begin, piece.length)
          .copy_(all.narrow(0, static_cast<std::int64_t>(r) * segment_ + offsets_[i], piece.length));
    }
  }
}

void ShardedOptimizer::step_param(std::size_t) {
  throw std::logic_error("optimizer_in_bwd is not available on a run over several ranks");
}

void ShardedOptimizer::save_state(optim::StateFileWriter&) const {
  throw std::runtime_error("saving the state of a run over several ranks is not supported");
}

void ShardedOptimizer::load_state(const optim::StateFileReader&) {
  throw std::runtime_error("loading the state of a run over several ranks is not supported");
}

}  // namespace optiscope::distributed
