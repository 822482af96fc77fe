// The on/off switch of the fused ops, shared by CUDA and CPU-only builds.
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "model/fused_ops.h"

namespace optiscope::fused {
namespace {

constexpr int kUnread = -1;
std::atomic<int> g_enabled{kUnread};

}  // namespace

bool enabled() {
  int state = g_enabled.load();
  if (state == kUnread) {
    // On unless OPTISCOPE_FUSED_OPS=0: their GPU tests (tests/gpu/fused_ops_gpu_test.cpp) pass on
    // an H200, and the switch stays so a user can rule them out when a result looks wrong.
    const char* env = std::getenv("OPTISCOPE_FUSED_OPS");
    state = env != nullptr && std::strcmp(env, "0") == 0 ? 0 : 1;
    int expected = kUnread;
    // A set_enabled that raced with this read wins.
    if (!g_enabled.compare_exchange_strong(expected, state)) state = expected;
  }
  return state == 1;
}

void set_enabled(bool on) {
  g_enabled.store(on ? 1 : 0);
}

}  // namespace optiscope::fused
