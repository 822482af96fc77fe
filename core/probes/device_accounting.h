#pragma once
// Splits the driver's used-memory figure (NVML / cudaMemGetInfo: total minus free) into what the
// run explains and what it does not. Neither figure can see managed residency, and the driver keeps
// the device chunks of evicted managed pages cached until someone needs them (measured on an H200:
// after 16 GiB moved to the host, used did not drop, yet a cudaMalloc of free + 8 GiB succeeded).
// So "used minus what we know" is split once more: the part that eviction can explain is the
// driver's cache (reclaimable, never part of a peak), the rest is "other".
#include <cstdint>

namespace optiscope::probes {

struct DriverUsedInputs {
  std::int64_t driver_used = 0;       // the driver's used figure now (0 when unknown)
  std::int64_t reserved = 0;          // LibTorch's caching allocator, reserved bytes
  std::int64_t paged_resident = 0;    // managed memory on the device now (measured, or the ledger)
  std::int64_t context = 0;           // this process's CUDA context and libraries
  std::int64_t foreign = 0;           // used at the run's start by others (processes, earlier runs)
  std::int64_t evicted_held_max = 0;  // managed bytes once on the device and evicted since
};

struct DriverUsedSplit {
  std::int64_t driver_cache = 0;
  std::int64_t other = 0;
};

DriverUsedSplit split_driver_used(const DriverUsedInputs& in);

}  // namespace optiscope::probes
