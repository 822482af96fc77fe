#pragma once
// adamw_32bit, adamw_8bit and their paged and offload twins: bitsandbytes semantics, fp32 or 8-bit
// blockwise state whatever the parameter dtype. CPU runs use the element-wise math of
// adamw_math.h; CUDA runs the kernels of kernels/.
//
// Where the state of a CUDA parameter lives (Placement):
//   device   ordinary device tensors;
//   paged    managed memory (tensors of >= 1e5 elements, as bitsandbytes pages), prefetched before
//            each update by the PageManager, which evicts least recently used state under a budget;
//   offload  pinned host memory (tensors of >= 1e5 elements): every step streams the moments (or
//            codes) through device staging slots in chunks, copied in on one side stream, updated
//            on the current stream and copied back on another, so both bus directions and the
//            update overlap. 8-bit absmax arrays and smaller tensors' state stay on the device.
// All three give the same bits. On a CPU run paging and offload do not apply: the state is in CPU
// memory like the device placement's, and note() says so.
#include <memory>

#include "optim/adamw_math.h"
#include "optim/optimizer.h"

namespace optiscope::optim {

enum class StateBits { b32, b8 };
enum class Placement { device, paged, offload };

class ManagedBuffer;  // a cudaMallocManaged allocation (paged state), defined by the CUDA part
class PinnedState;    // pinned host memory (offload state), defined by the CUDA part
class OffloadStream;  // the chunked copy-update-copy pipeline, defined by the CUDA part

class BlockwiseAdamW final : public Optimizer {
 public:
  BlockwiseAdamW(std::vector<torch::Tensor> params, const OptimizerOptions& options, StateBits bits,
                 Placement placement);
  BlockwiseAdamW(std::vector<torch::Tensor> params, const OptimizerOptions& options, StateBits bits,
                 bool paged)
      : BlockwiseAdamW(std::move(params), options, bits, paged ? Placement::paged : Placement::device) {}
  ~BlockwiseAdamW() override;
  void step() override;
  void step_param(std::size_t i) override;
  void set_lr(double lr) override { options_.lr = lr; }
  StateBytes state_bytes() const override;
  std::string name() const override;
  std::string note() const override;

  /// Dequantised (or fp32) moments of parameter i, on the CPU, for tests and checkpoints. Waits
  /// for the device when the state is offloaded.
  torch::Tensor first_moment(std::size_t i) const;
  torch::Tensor second_moment(std::size_t i) const;
  bool is_8bit(std::size_t i) const { return state_[i].eight_bit; }
  /// Where parameter i's moments are (device for small tensors of paged/offload variants).
  Placement placement_of(std::size_t i) const;

 protected:
  void save_state(StateFileWriter& out) const override;
  void load_state(const StateFileReader& in) override;

 private:
  struct State {
    bool eight_bit = false;
    bool paged = false;
    bool offloaded = false;
    int step = 0;
    torch::Tensor m;  // float32 moments, or uint8 codes for 8-bit
    torch::Tensor v;
    torch::Tensor absmax_m;  // float32 per 256-element block (8-bit only)
    torch::Tensor absmax_v;
    std::shared_ptr<ManagedBuffer> managed;  // backs m and v when paged
    std::shared_ptr<PinnedState> pinned;     // backs m and v when offloaded
  };

  State make_state(const torch::Tensor& p, std::size_t index) const;
  /// Whether parameter `index` gets 8-bit state: bitsandbytes' min_8bit_size, judged by the whole
  /// tensor's size when the parameter is a shard of one.
  bool wants_8bit(const torch::Tensor& p, std::size_t index) const;
  AdamHyper hyper(int step) const;
  void step_cpu(torch::Tensor& p, State& s);
  void step_cuda(torch::Tensor& p, State& s);
  /// Offload only: orders the copy streams after the work queued so far on the current stream.
  void begin_offload();
  /// Queues the streamed updates of the offloaded parameters `which`.
  void step_offloaded(const std::vector<std::size_t>& which);
  /// Waits until offloaded state is back in host memory (before the host reads or writes it).
  void wait_offloaded() const;
  const torch::Tensor& quant_maps(const torch::Tensor& p);

  OptimizerOptions options_;
  StateBits bits_;
  Placement placement_;
  std::vector<State> state_;
  bool any_offloaded_ = false;
  torch::Tensor qmaps_;    // device copy of the two quantization maps [2, 256] (CUDA only)
  torch::Tensor staging_;  // device staging slots of the offload pipeline
  std::shared_ptr<OffloadStream> offload_;
};

}  // namespace optiscope::optim
