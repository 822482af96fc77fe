#pragma once
// Streamed offload of optimizer state: the moments (fp32) or codes (8-bit) live in pinned host
// memory and pass through a few device staging slots each step, in chunks:
//
//   h2d stream:     copy chunk i in (slot i % slots)      waits until chunk i - slots went back
//   update stream:  update chunk i in its slot            waits until chunk i came in
//   d2h stream:     copy chunk i back to host memory      waits until chunk i was updated
//
// Both bus directions and the update run at once, so a step costs about the state's bytes over
// one direction's bandwidth (pinned copies: 55 GB/s each way on the H100 host measured), rather
// than over unified memory's eviction or fault rates. Chunks start at multiples of 256 elements,
// so the 8-bit absmax blocks and the kernels' vector paths line up with the whole-tensor update:
// the results are bit-for-bit those of state kept on the device.
//
// No LibTorch here: the caller passes the streams, the staging memory and the tasks.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "optim_kernels.h"

namespace optiscope::kernels {

/// Page-locked host memory from cudaHostAlloc, zero-filled. Throws std::runtime_error when the
/// host cannot pin that much.
class PinnedBuffer {
 public:
  explicit PinnedBuffer(std::size_t bytes);
  ~PinnedBuffer();
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  void* data() const { return ptr_; }
  std::size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

/// One parameter's update. host_m / host_v hold n floats (32-bit) or n codes (8-bit) in pinned
/// memory; absmax_* (8-bit only) and p, g are device memory.
struct OffloadTask {
  void* p = nullptr;
  const void* g = nullptr;
  DType dtype = DType::f32;
  bool eight_bit = false;
  void* host_m = nullptr;
  void* host_v = nullptr;
  float* absmax_m = nullptr;
  float* absmax_v = nullptr;
  std::int64_t n = 0;
  optim::AdamHyper hyper;
};

class OffloadPipeline {
 public:
  /// Device bytes the staging slots need: slots x 2 moments x chunk_bytes.
  static std::size_t staging_bytes(std::size_t chunk_bytes, int slots);

  /// staging: device memory of staging_bytes(chunk_bytes, slots), owned by the caller, alive
  /// while the pipeline is. chunk_bytes >= 1 KiB (rounded down to whole 256-element blocks of
  /// fp32), slots >= 2. Creates two non-blocking copy streams on the current device.
  OffloadPipeline(void* staging, std::size_t chunk_bytes, int slots);
  ~OffloadPipeline();
  OffloadPipeline(const OffloadPipeline&) = delete;
  OffloadPipeline& operator=(const OffloadPipeline&) = delete;

  /// Orders the copy streams after the work queued so far on `stream` (the update stream).
  void begin(void* stream);
  /// Queues every task's chunks; `stream` then waits for the last copy back, so work queued on
  /// it afterwards sees the state home. qmap_* as for adamw8bit_blockwise (8-bit tasks only).
  void run(const std::vector<OffloadTask>& tasks, const float* qmap_m, const float* qmap_v, void* stream);
  /// Host waits until every queued copy is done (before reading or writing host state).
  void synchronize() const;
  /// Chunks queued since construction (for tests: that a run really was chunked).
  std::int64_t chunks_queued() const { return chunks_; }

 private:
  struct Slot {
    void* events[3] = {nullptr, nullptr, nullptr};  // loaded, updated, freed (cudaEvent_t)
  };
  unsigned char* staging_;
  std::size_t chunk_bytes_;
  std::vector<Slot> slots_;
  void* h2d_ = nullptr;  // cudaStream_t
  void* d2h_ = nullptr;
  void* started_ = nullptr;  // cudaEvent_t: begin() on the update stream
  void* done_ = nullptr;     // cudaEvent_t: last copy back
  std::int64_t next_slot_ = 0;
  std::int64_t chunks_ = 0;
  int device_ = 0;
};

}  // namespace optiscope::kernels
