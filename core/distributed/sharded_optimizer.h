#pragma once
// Data parallel over the ranks of a process group, with the optimizer state replicated (ZeRO stage
// 0, as DDP) or sharded over the ranks (stage 1: state; stage 2: state and gradients), as
// DeepSpeed's zero_optimization.stage means them.
//
// Shard layout: each parameter, flattened, is cut into world_size contiguous pieces of `chunk`
// elements (the last ones shorter or empty), chunk = ceil(numel / world_size) rounded up to a
// multiple of 256, the 8-bit block size: rank r owns [r * chunk, min((r + 1) * chunk, numel)), so
// the 8-bit variant quantizes the very blocks it quantizes on one process, and the 8-bit/32-bit
// choice follows the whole tensor's size (OptimizerOptions::whole_numel). The collectives work on
// one flat buffer in rank-major order: rank r's pieces of every parameter, each padded to its
// chunk, make the r-th of world_size equal segments.
//
// A step: backward leaves the full gradients in .grad on every rank; reduce_gradients() averages
// them over the ranks (stage 0: all-reduce, gradients back in .grad; stage 1: all-reduce of the
// flat buffer, .grad freed, the rank's segment is its shard's gradient; stage 2: reduce-scatter,
// the rank keeps its segment only); clip_grad_norm() clips by the global norm (stage 2: from an
// all-reduce of the shards' squared norms); step() updates the rank's own shard with an ordinary
// optimizer of the variant over views of the parameters; gather_parameters() all-gathers the
// updated pieces into every rank's parameters (stages 1 and 2) and frees the gradient buffer.
//
// ProcessGroupGloo has a real reduce-scatter (_reduce_scatter_base) in LibTorch 2.11; where a
// backend refuses it, it is emulated by an all-reduce that keeps the rank's segment, and
// reduce_scatter_emulated() says so.
#include <torch/csrc/distributed/c10d/Backend.hpp>

#include <memory>
#include <string>
#include <vector>

#include "optim/optimizer.h"

namespace optiscope::distributed {

/// Where rank `rank`'s piece of a parameter of `numel` elements lies.
struct ShardRange {
  std::int64_t chunk = 0;  // elements per rank (padded length of every piece)
  std::int64_t begin = 0;
  std::int64_t length = 0;  // 0 when the parameter ends before this rank's piece
};
ShardRange shard_range(std::int64_t numel, int rank, int world_size);
inline constexpr std::int64_t kShardAlign = 256;

/// Bytes a collective moves in and out of one rank under the ring algorithms NCCL and Gloo use:
/// all-reduce of B bytes 4 (N - 1) / N B, reduce-scatter of B bytes in (or all-gather of B bytes
/// out) 2 (N - 1) / N B. What is recorded as comm_bytes.
std::int64_t ring_bytes_all_reduce(std::int64_t bytes, int world_size);
std::int64_t ring_bytes_scatter_gather(std::int64_t bytes, int world_size);

class ShardedOptimizer final : public optim::Optimizer {
 public:
  ShardedOptimizer(c10::intrusive_ptr<c10d::Backend> group, std::vector<torch::Tensor> params, int zero_stage,
                   const std::string& variant, const optim::OptimizerOptions& options);

  /// The collectives of a step, in this order around the update (see the top of this file).
  void reduce_gradients();
  void clip_grad_norm(double max_norm);
  void step() override;
  void gather_parameters();

  void step_param(std::size_t) override;
  void set_lr(double lr) override { inner_->set_lr(lr); }
  optim::StateBytes state_bytes() const override { return inner_->state_bytes(); }
  std::string name() const override { return inner_->name(); }
  std::string note() const override { return inner_->note(); }
  // Stage 0 counts through .grad (views of the buffer); stages 1 and 2 hold the buffer alone.
  std::int64_t held_gradient_bytes() const override {
    return stage_ == 0 ? 0 : optim::tensor_bytes(flat_grad_);
  }

  int zero_stage() const { return stage_; }
  int rank() const { return rank_; }
  int world_size() const { return world_; }
  /// Bytes moved by this rank's collectives since the last take_comm_bytes() (ring figures).
  std::int64_t take_comm_bytes();
  bool reduce_scatter_emulated() const { return emulated_reduce_scatter_; }
  /// The rank's own optimizer (over its shard's views; over the full parameters at stage 0).
  const optim::Optimizer& inner() const { return *inner_; }
  c10d::Backend& group() { return *group_; }

 protected:
  void save_state(optim::StateFileWriter& out) const override;
  void load_state(const optim::StateFileReader& in) override;

 private:
  void all_reduce(torch::Tensor& t);
  void pack_gradients(torch::Tensor& flat);  // rank-major, padded; frees .grad
  torch::Tensor segment(const torch::Tensor& flat, int rank) const {
    return flat.narrow(0, static_cast<std::int64_t>(rank) * segment_, segment_);
  }

  c10::intrusive_ptr<c10d::Backend> group_;
  int stage_;
  int rank_;
  int world_;
  std::vector<ShardRange> ranges_;     // per parameter, this rank's piece
  std::vector<std::int64_t> offsets_;  // per parameter, its piece's offset in a segment
  std::int64_t segment_ = 0;           // elements per rank in the flat buffer
  std::vector<std::size_t> owned_;     // parameters with a non-empty piece on this rank
  std::vector<torch::Tensor> shards_;  // views of the parameters' pieces, one per owned_
  std::unique_ptr<optim::Optimizer> inner_;
  torch::Tensor flat_grad_;  // stage 0: full gradients (the .grad are its views); 1: N segments; 2: one
  std::int64_t comm_bytes_ = 0;
  bool emulated_reduce_scatter_ = false;
};

}  // namespace optiscope::distributed
