// ProcessGroupGloo, the CPU backend. The torch wheel exports it but ships no gloo headers, which
// ProcessGroupGloo.hpp includes; they come from Debian's libgloo-dev (a 2022 snapshot, unpacked
// into .deps/gloo by installer/setup.sh, never installed). Only pointers to gloo types appear in
// ProcessGroupGloo's layout (shared_ptr<gloo::transport::Device>, contexts behind pointers), so
// headers older than the ones the wheel was built with do not change the class we construct.
// This is the only file that includes ProcessGroupGloo.hpp.
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include "distributed/process_group.h"

namespace optiscope::distributed {

c10::intrusive_ptr<c10d::Backend> make_gloo(const c10::intrusive_ptr<c10d::Store>& store,
                                            const GroupOptions& options) {
  auto opts = c10d::ProcessGroupGloo::Options::create(options.timeout);
  // Loopback: every rank is on this host.
  opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(options.host));
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, options.rank, options.world_size, opts);
}

}  // namespace optiscope::distributed
