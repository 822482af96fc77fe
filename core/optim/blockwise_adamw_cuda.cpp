// BlockwiseAdamW's device-specific parts for CUDA builds: state in device tensors, in managed
// memory for the paged variants or in pinned host memory for the offload variants, updated by the
// kernels of kernels/ on LibTorch's current stream.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/torch.h>

#include <stdexcept>

#include "offload_pipeline.h"
#include "optim/blockwise_adamw.h"
#include "optim/page_manager.h"
#include "optim_kernels.h"

namespace optiscope::optim {

// bitsandbytes pages only tensors of at least 1e5 elements; smaller state stays in device memory.
// Offload uses the same line: below it the copies' fixed costs outweigh the bytes saved.
constexpr std::int64_t kMinPagedElements = 100000;

class PinnedState : public kernels::PinnedBuffer {
 public:
  using kernels::PinnedBuffer::PinnedBuffer;
};

class OffloadStream : public kernels::OffloadPipeline {
 public:
  using kernels::OffloadPipeline::OffloadPipeline;
};

class ManagedBuffer {
 public:
  ManagedBuffer(int device, std::size_t bytes, void* stream)
      : device_(device), ptr_(PageManager::for_device(device).allocate(bytes, stream)) {}
  ~ManagedBuffer() { PageManager::for_device(device_).release(ptr_); }
  ManagedBuffer(const ManagedBuffer&) = delete;
  ManagedBuffer& operator=(const ManagedBuffer&) = delete;
  void* data() const { return ptr_; }

 private:
  int device_;
  void* ptr_;
};

namespace {

void* current_stream(const torch::Tensor& p) {
  return static_cast<void*>(at::cuda::getCurrentCUDAStream(p.device().index()).stream());
}

kernels::DType dtype_of(const torch::Tensor& p) {
  return p.scalar_type() == torch::kBFloat16 ? kernels::DType::bf16 : kernels::DType::f32;
}

}  // namespace

BlockwiseAdamW::State BlockwiseAdamW::make_state(const torch::Tensor& p, std::size_t index) const {
  State s;
  s.eight_bit = wants_8bit(p, index);
  const auto opts = torch::TensorOptions().device(p.device());
  const auto state_dtype = s.eight_bit ? torch::kUInt8 : torch::kFloat32;
  if (s.eight_bit) {
    s.absmax_m = torch::zeros({quant_blocks(p.numel())}, opts.dtype(torch::kFloat32));
    s.absmax_v = torch::zeros({quant_blocks(p.numel())}, opts.dtype(torch::kFloat32));
  }
  s.paged = placement_ == Placement::paged && p.is_cuda() && p.numel() >= kMinPagedElements;
  s.offloaded = placement_ == Placement::offload && p.is_cuda() && p.numel() >= kMinPagedElements;
  if (s.offloaded) {
    // m and v in one pinned block, zero-filled (every code 0 is fine: absmax 0 dequantises to 0).
    const std::size_t each = static_cast<std::size_t>(p.numel()) * (s.eight_bit ? 1 : 4);
    s.pinned = std::make_shared<PinnedState>(2 * each);
    auto* base = static_cast<unsigned char*>(s.pinned->data());
    s.m = torch::from_blob(base, p.sizes(), torch::TensorOptions().dtype(state_dtype));
    s.v = torch::from_blob(base + each, p.sizes(), torch::TensorOptions().dtype(state_dtype));
  } else if (s.paged) {
    // m and v in one managed allocation, so one prefetch brings both.
    const std::size_t each = static_cast<std::size_t>(p.numel()) * (s.eight_bit ? 1 : 4);
    s.managed = std::make_shared<ManagedBuffer>(p.device().index(), 2 * each, current_stream(p));
    auto* base = static_cast<unsigned char*>(s.managed->data());
    s.m = torch::from_blob(base, p.sizes(), opts.dtype(state_dtype));
    s.v = torch::from_blob(base + each, p.sizes(), opts.dtype(state_dtype));
  } else if (s.eight_bit) {
    s.m = torch::full(p.sizes(), 127, opts.dtype(torch::kUInt8));
    s.v = torch::zeros(p.sizes(), opts.dtype(torch::kUInt8));
  } else {
    s.m = torch::zeros(p.sizes(), opts.dtype(torch::kFloat32));
    s.v = torch::zeros(p.sizes(), opts.dtype(torch::kFloat32));
  }
  return s;
}

void BlockwiseAdamW::step_cuda(torch::Tensor& p, State& s) {
  if (!p.is_contiguous()) throw std::runtime_error("BlockwiseAdamW needs contiguous parameters");
  const auto g = p.grad().contiguous();
  void* stream = current_stream(p);
  if (s.paged) PageManager::for_device(p.device().index()).prefetch_for_use(s.managed->data(), stream);
  const AdamHyper h = hyper(s.step);
  if (s.eight_bit) {
    quant_maps(p);
    kernels::adamw8bit_blockwise(p.data_ptr(), g.data_ptr(), dtype_of(p), s.m.data_ptr<std::uint8_t>(),
                                 s.v.data_ptr<std::uint8_t>(), s.absmax_m.data_ptr<float>(),
                                 s.absmax_v.data_ptr<float>(), qmaps_.data_ptr<float>(),
                                 qmaps_.data_ptr<float>() + 256, p.numel(), h, stream);
  } else {
    kernels::adamw32_fused(p.data_ptr(), g.data_ptr(), dtype_of(p), s.m.data_ptr<float>(),
                           s.v.data_ptr<float>(), p.numel(), h, stream);
  }
  if (s.paged) PageManager::for_device(p.device().index()).use_queued(s.managed->data());
}

const torch::Tensor& BlockwiseAdamW::quant_maps(const torch::Tensor& p) {
  if (!qmaps_.defined()) {
    qmaps_ = torch::empty({2, 256}, torch::TensorOptions().dtype(torch::kFloat32).device(p.device()));
    kernels::upload_quant_maps(qmaps_.data_ptr<float>(), qmaps_.data_ptr<float>() + 256, current_stream(p));
  }
  return qmaps_;
}

void BlockwiseAdamW::begin_offload() {
  const torch::Tensor* first = nullptr;
  for (std::size_t i = 0; i < state_.size() && first == nullptr; ++i)
    if (state_[i].offloaded) first = &params_[i];
  if (first == nullptr) return;
  if (!offload_) {
    const c10::cuda::CUDAGuard guard(first->device());  // the copy streams belong to the state's device
    const auto chunk = static_cast<std::size_t>(options_.offload_chunk_bytes);
    const auto bytes = kernels::OffloadPipeline::staging_bytes(chunk, options_.offload_slots);
    // Staging comes from LibTorch's allocator, so the run's budget and the memory probe see it.
    staging_ = torch::empty({static_cast<std::int64_t>(bytes)},
                            torch::TensorOptions().dtype(torch::kUInt8).device(first->device()));
    offload_ = std::make_shared<OffloadStream>(staging_.data_ptr(), chunk, options_.offload_slots);
  }
  offload_->begin(current_stream(*first));
}

void BlockwiseAdamW::step_offloaded(const std::vector<std::size_t>& which) {
  std::vector<kernels::OffloadTask> tasks;
  tasks.reserve(which.size());
  std::vector<torch::Tensor> grads;  // contiguous gradients, alive until the chunks are queued
  const float* qm = nullptr;
  for (const std::size_t i : which) {
    auto& p = params_[i];
    auto& s = state_[i];
    if (!p.is_contiguous()) throw std::runtime_error("BlockwiseAdamW needs contiguous parameters");
    grads.push_back(p.grad().contiguous());
    kernels::OffloadTask t;
    t.p = p.data_ptr();
    t.g = grads.back().data_ptr();
    t.dtype = dtype_of(p);
    t.eight_bit = s.eight_bit;
    t.host_m = s.m.data_ptr();
    t.host_v = s.v.data_ptr();
    if (s.eight_bit) {
      t.absmax_m = s.absmax_m.data_ptr<float>();
      t.absmax_v = s.absmax_v.data_ptr<float>();
      qm = quant_maps(p).data_ptr<float>();
    }
    t.n = p.numel();
    t.hyper = hyper(s.step);
    tasks.push_back(t);
  }
  offload_->run(tasks, qm, qm == nullptr ? nullptr : qm + 256, current_stream(params_[which.front()]));
}

void BlockwiseAdamW::wait_offloaded() const {
  if (offload_) offload_->synchronize();
}

}  // namespace optiscope::optim
