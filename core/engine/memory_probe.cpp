#include "engine/memory_probe.h"

#include <algorithm>

namespace optiscope::engine {

MemoryProbe::MemoryProbe(const c10::Device& device, std::vector<torch::Tensor> params,
                         const optim::Optimizer& optimizer)
    : device_(device), params_(std::move(params)), optimizer_(optimizer) {
  for (const auto& p : params_) param_bytes_ += optim::tensor_bytes(p);
}

MemorySample MemoryProbe::sample(std::int64_t step, Phase phase, SamplePoint point) const {
  const DeviceMemory mem = memory(device_);
  const PagingTotals pages = paging(device_);
  const optim::StateBytes state = optimizer_.state_bytes();
  MemorySample s;
  s.step = step;
  s.phase = phase;
  s.point = point;
  s.parameters = param_bytes_;
  for (const auto& p : params_) s.gradients += optim::tensor_bytes(p.grad());
  s.optimizer_device = state.device;
  s.optimizer_paged_resident = std::min(pages.resident, state.managed);
  s.optimizer_paged_host = std::max<std::int64_t>(0, state.managed - s.optimizer_paged_resident);
  s.optimizer_pinned_host = state.host;
  const std::int64_t allocated = point == SamplePoint::peak ? mem.peak : mem.allocated;
  s.activations = std::max<std::int64_t>(0, allocated - s.parameters - s.gradients - s.optimizer_device);
  s.allocator_cache = std::max<std::int64_t>(0, mem.reserved - allocated);
  // Context, cuBLAS workspaces and other libraries: what the driver sees beyond our own figures.
  if (mem.driver_used > 0)
    s.other_device = std::max<std::int64_t>(0, mem.driver_used - mem.reserved - s.optimizer_paged_resident);
  return s;
}

}  // namespace optiscope::engine
