#include "engine/memory_probe.h"

#include <algorithm>

#include "probes/device_accounting.h"

namespace optiscope::engine {

MemoryProbe::MemoryProbe(const c10::Device& device, std::vector<torch::Tensor> params,
                         const optim::Optimizer& optimizer, std::int64_t foreign)
    : device_(device),
      params_(std::move(params)),
      optimizer_(optimizer),
      foreign_(foreign),
      context_(context_memory(device)) {
  for (const auto& p : params_) param_bytes_ += optim::tensor_bytes(p);
}

std::int64_t MemoryProbe::foreign_now(const c10::Device& device) {
  const DeviceMemory mem = memory(device);
  if (mem.driver_used <= 0) return 0;
  const PagingTotals pages = paging(device);
  return std::max<std::int64_t>(
      0, mem.driver_used - context_memory(device).bytes - mem.reserved - pages.resident);
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
  s.gradients += optimizer_.held_gradient_bytes();
  s.optimizer_device = state.device;
  s.optimizer_paged_resident = std::min(pages.resident, state.managed);
  s.optimizer_paged_host = std::max<std::int64_t>(0, state.managed - s.optimizer_paged_resident);
  s.optimizer_pinned_host = state.host;
  const std::int64_t allocated = point == SamplePoint::peak ? mem.peak : mem.allocated;
  s.activations = std::max<std::int64_t>(0, allocated - s.parameters - s.gradients - s.optimizer_device);
  s.allocator_cache = std::max<std::int64_t>(0, mem.reserved - allocated);
  s.context = context_.bytes;
  const auto split =
      probes::split_driver_used({mem.driver_used, mem.reserved, s.optimizer_paged_resident, context_.bytes,
                                 foreign_, pages.ever_resident - pages.resident});
  s.driver_cache = split.driver_cache;
  s.other_device = split.other;
  return s;
}

}  // namespace optiscope::engine
