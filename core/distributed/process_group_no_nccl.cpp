// Builds without NCCL (no CUDA, or no nccl.h found at configure time): a run over several GPUs is
// refused with a message instead of failing to build.
#include "distributed/process_group.h"

#include <stdexcept>

namespace optiscope::distributed {

c10::intrusive_ptr<c10d::Backend> make_nccl(const c10::intrusive_ptr<c10d::Store>& /*store*/,
                                            const GroupOptions& /*options*/, const c10::Device& device) {
  throw std::runtime_error("a run over several ranks on " + device.str() +
                           " needs NCCL, and this build of Optiscope has none (CPU build, or nccl.h was not "
                           "found when it was configured: see docs/install.md)");
}

}  // namespace optiscope::distributed
