#pragma once
// The process group of one rank of a run over several ranks of this host: LibTorch's own c10d,
// rendezvous through a TCPStore on 127.0.0.1 (rank 0 is its server), Gloo for CPU tensors and
// NCCL for CUDA ones. Engine side (LibTorch types); the apps see none of it.
#include <torch/csrc/distributed/c10d/Backend.hpp>

#include <chrono>
#include <string>

namespace optiscope::distributed {

struct GroupOptions {
  int rank = 0;
  int world_size = 1;
  std::string host = "127.0.0.1";
  int port = 0;
  // How long the rendezvous and every collective may wait for the other ranks before failing.
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
};

/// Connects this rank to the others: Gloo when device is a CPU, NCCL when it is a GPU (builds
/// with CUDA and NCCL headers only; otherwise std::runtime_error says so). Blocks until every
/// rank has joined or the timeout passed.
c10::intrusive_ptr<c10d::Backend> connect(const GroupOptions& options, const c10::Device& device);

/// The backends, one translation unit each (ProcessGroupGloo.hpp and ProcessGroupNCCL.hpp need
/// third-party headers that only these files include).
c10::intrusive_ptr<c10d::Backend> make_gloo(const c10::intrusive_ptr<c10d::Store>& store,
                                            const GroupOptions& options);
c10::intrusive_ptr<c10d::Backend> make_nccl(const c10::intrusive_ptr<c10d::Store>& store,
                                            const GroupOptions& options, const c10::Device& device);

}  // namespace optiscope::distributed
