#include "distributed/process_group.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <stdexcept>

namespace optiscope::distributed {

c10::intrusive_ptr<c10d::Backend> connect(const GroupOptions& options, const c10::Device& device) {
  if (options.world_size < 1 || options.rank < 0 || options.rank >= options.world_size)
    throw std::invalid_argument("rank " + std::to_string(options.rank) + " of " +
                                std::to_string(options.world_size));
  if (options.port <= 0 || options.port > 65535)
    throw std::invalid_argument("rendezvous port " + std::to_string(options.port) + " is not a TCP port");
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(options.port);
  so.isServer = options.rank == 0;
  so.numWorkers = static_cast<std::size_t>(options.world_size);
  so.waitWorkers = true;
  so.timeout = options.timeout;
  auto tcp = c10::make_intrusive<c10d::TCPStore>(options.host, so);
  // A prefix per group, as torch.distributed does, so the backend's keys stay apart from ours.
  const auto store = c10::make_intrusive<c10d::PrefixStore>("optiscope", tcp);
  if (device.is_cuda()) return make_nccl(store, options, device);
  return make_gloo(store, options);
}

}  // namespace optiscope::distributed
