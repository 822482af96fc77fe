// Builds configured without gloo's headers (installer/setup.sh unpacks them into .deps/gloo): a run
// over several CPU ranks is refused with a message instead of failing to build.
#include <stdexcept>

#include "distributed/process_group.h"

namespace optiscope::distributed {

c10::intrusive_ptr<c10d::Backend> make_gloo(const c10::intrusive_ptr<c10d::Store>& /*store*/,
                                            const GroupOptions& /*options*/) {
  throw std::runtime_error(
      "a run over several ranks on the CPU needs Gloo, and this build of Optiscope was configured without "
      "gloo's headers (run installer/setup.sh, which unpacks them into .deps/gloo, and configure again)");
}

}  // namespace optiscope::distributed
