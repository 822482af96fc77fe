// The streamed-offload pipeline of offload_pipeline.h: plain CUDA runtime calls, no kernels of its
// own (each chunk's update is adamw32_fused or adamw8bit_blockwise on a slice).
#include "offload_pipeline.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace optiscope::kernels {
namespace {

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("offload pipeline: ") + what + ": " + cudaGetErrorString(err));
}

cudaStream_t as_stream(void* s) {
  return static_cast<cudaStream_t>(s);
}
cudaEvent_t as_event(void* e) {
  return static_cast<cudaEvent_t>(e);
}

void* new_event() {
  cudaEvent_t e = nullptr;
  check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
  return e;
}

enum { kLoaded = 0, kUpdated = 1, kFreed = 2 };

}  // namespace

PinnedBuffer::PinnedBuffer(std::size_t bytes) : bytes_(bytes) {
  const cudaError_t err = cudaHostAlloc(&ptr_, bytes == 0 ? 1 : bytes, cudaHostAllocPortable);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    throw std::runtime_error("cannot pin " + std::to_string(bytes >> 20) +
                             " MiB of host memory for offloaded optimizer state (" + cudaGetErrorString(err) +
                             "): the host is short of memory or of locked-memory allowance (ulimit -l)");
  }
  std::memset(ptr_, 0, bytes);
}

PinnedBuffer::~PinnedBuffer() {
  (void)cudaFreeHost(ptr_);
}

std::size_t OffloadPipeline::staging_bytes(std::size_t chunk_bytes, int slots) {
  return static_cast<std::size_t>(slots) * 2 * chunk_bytes;
}

OffloadPipeline::OffloadPipeline(void* staging, std::size_t chunk_bytes, int slots)
    : staging_(static_cast<unsigned char*>(staging)), chunk_bytes_(chunk_bytes) {
  // Whole 256-element blocks of the widest state (fp32), so 8-bit chunks are whole blocks too.
  if (chunk_bytes < 1024 || chunk_bytes % 1024 != 0 || slots < 2)
    throw std::invalid_argument(
        "offload pipeline: chunk_bytes must be a positive multiple of 1 KiB, slots >= 2");
  check(cudaGetDevice(&device_), "cudaGetDevice");
  cudaStream_t h2d = nullptr;
  cudaStream_t d2h = nullptr;
  check(cudaStreamCreateWithFlags(&h2d, cudaStreamNonBlocking), "cudaStreamCreate");
  h2d_ = h2d;
  check(cudaStreamCreateWithFlags(&d2h, cudaStreamNonBlocking), "cudaStreamCreate");
  d2h_ = d2h;
  started_ = new_event();
  done_ = new_event();
  slots_.resize(static_cast<std::size_t>(slots));
  for (auto& s : slots_)
    for (auto& e : s.events) e = new_event();
}

OffloadPipeline::~OffloadPipeline() {
  (void)cudaStreamSynchronize(as_stream(h2d_));
  (void)cudaStreamSynchronize(as_stream(d2h_));
  for (auto& s : slots_)
    for (auto& e : s.events) (void)cudaEventDestroy(as_event(e));
  (void)cudaEventDestroy(as_event(started_));
  (void)cudaEventDestroy(as_event(done_));
  (void)cudaStreamDestroy(as_stream(h2d_));
  (void)cudaStreamDestroy(as_stream(d2h_));
}

void OffloadPipeline::begin(void* stream) {
  check(cudaEventRecord(as_event(started_), as_stream(stream)), "cudaEventRecord");
  check(cudaStreamWaitEvent(as_stream(h2d_), as_event(started_), 0), "cudaStreamWaitEvent");
  check(cudaStreamWaitEvent(as_stream(d2h_), as_event(started_), 0), "cudaStreamWaitEvent");
}

void OffloadPipeline::run(const std::vector<OffloadTask>& tasks, const float* qmap_m, const float* qmap_v,
                          void* stream) {
  const cudaStream_t compute = as_stream(stream);
  const cudaStream_t h2d = as_stream(h2d_);
  const cudaStream_t d2h = as_stream(d2h_);
  for (const OffloadTask& t : tasks) {
    const std::size_t state_size = t.eight_bit ? 1 : 4;
    const std::size_t param_size = t.dtype == DType::f32 ? 4 : 2;
    const auto chunk_elems = static_cast<std::int64_t>(chunk_bytes_ / 4 / 256 * 256 * (4 / state_size));
    for (std::int64_t off = 0; off < t.n; off += chunk_elems) {
      const std::int64_t len = std::min(chunk_elems, t.n - off);
      const std::size_t bytes = static_cast<std::size_t>(len) * state_size;
      const std::size_t host_off = static_cast<std::size_t>(off) * state_size;
      Slot& slot = slots_[static_cast<std::size_t>(next_slot_++ % static_cast<std::int64_t>(slots_.size()))];
      const std::size_t slot_index = static_cast<std::size_t>(&slot - slots_.data());
      unsigned char* dev_m = staging_ + slot_index * 2 * chunk_bytes_;
      unsigned char* dev_v = dev_m + chunk_bytes_;

      // In: the slot must have gone back (an event never recorded counts as done).
      check(cudaStreamWaitEvent(h2d, as_event(slot.events[kFreed]), 0), "cudaStreamWaitEvent");
      check(cudaMemcpyAsync(dev_m, static_cast<unsigned char*>(t.host_m) + host_off, bytes,
                            cudaMemcpyHostToDevice, h2d),
            "copy in");
      check(cudaMemcpyAsync(dev_v, static_cast<unsigned char*>(t.host_v) + host_off, bytes,
                            cudaMemcpyHostToDevice, h2d),
            "copy in");
      check(cudaEventRecord(as_event(slot.events[kLoaded]), h2d), "cudaEventRecord");

      // Update on the caller's stream, on the slice of p and g this chunk covers.
      check(cudaStreamWaitEvent(compute, as_event(slot.events[kLoaded]), 0), "cudaStreamWaitEvent");
      void* p = static_cast<unsigned char*>(t.p) + static_cast<std::size_t>(off) * param_size;
      const void* g = static_cast<const unsigned char*>(t.g) + static_cast<std::size_t>(off) * param_size;
      if (t.eight_bit) {
        const std::int64_t block = off / static_cast<std::int64_t>(optim::kQuantBlock);
        adamw8bit_blockwise(p, g, t.dtype, dev_m, dev_v, t.absmax_m + block, t.absmax_v + block, qmap_m,
                            qmap_v, len, t.hyper, stream);
      } else {
        adamw32_fused(p, g, t.dtype, reinterpret_cast<float*>(dev_m), reinterpret_cast<float*>(dev_v), len,
                      t.hyper, stream);
      }
      check(cudaEventRecord(as_event(slot.events[kUpdated]), compute), "cudaEventRecord");

      // Back to host memory.
      check(cudaStreamWaitEvent(d2h, as_event(slot.events[kUpdated]), 0), "cudaStreamWaitEvent");
      check(cudaMemcpyAsync(static_cast<unsigned char*>(t.host_m) + host_off, dev_m, bytes,
                            cudaMemcpyDeviceToHost, d2h),
            "copy back");
      check(cudaMemcpyAsync(static_cast<unsigned char*>(t.host_v) + host_off, dev_v, bytes,
                            cudaMemcpyDeviceToHost, d2h),
            "copy back");
      check(cudaEventRecord(as_event(slot.events[kFreed]), d2h), "cudaEventRecord");
      ++chunks_;
    }
  }
  check(cudaEventRecord(as_event(done_), d2h), "cudaEventRecord");
  check(cudaStreamWaitEvent(compute, as_event(done_), 0), "cudaStreamWaitEvent");
}

void OffloadPipeline::synchronize() const {
  check(cudaStreamSynchronize(as_stream(h2d_)), "cudaStreamSynchronize");
  check(cudaStreamSynchronize(as_stream(d2h_)), "cudaStreamSynchronize");
}

}  // namespace optiscope::kernels
