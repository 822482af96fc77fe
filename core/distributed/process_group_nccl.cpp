// ProcessGroupNCCL, the GPU backend (CUDA builds that found nccl.h; CMake defines USE_C10D_NCCL
// for this file only). The only file that includes ProcessGroupNCCL.hpp.
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include "distributed/process_group.h"

namespace optiscope::distributed {

c10::intrusive_ptr<c10d::Backend> make_nccl(const c10::intrusive_ptr<c10d::Store>& store,
                                            const GroupOptions& options, const c10::Device& device) {
  auto opts = c10d::ProcessGroupNCCL::Options::create();
  opts->timeout = options.timeout;
  auto pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, options.rank, options.world_size, opts);
  // Bind the communicator to this rank's GPU now, so that the first collective does not guess it.
  pg->setBoundDeviceId(device);
  return pg;
}

}  // namespace optiscope::distributed
