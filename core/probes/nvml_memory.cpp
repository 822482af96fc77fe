#include "probes/nvml_memory.h"

#include <dlfcn.h>

#include <mutex>

namespace optiscope::probes {
namespace {

// The few NVML entry points used, declared as nvml.h declares them (its ABI is stable).
struct NvmlMemory {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};
using NvmlDevice = void*;
using InitFn = int (*)();
using HandleFn = int (*)(const char*, NvmlDevice*);
using MemoryFn = int (*)(NvmlDevice, NvmlMemory*);

struct Nvml {
  HandleFn handle_by_bus_id = nullptr;
  MemoryFn memory_info = nullptr;
  bool ok = false;
};

const Nvml& nvml() {
  static Nvml lib;
  static std::once_flag once;
  std::call_once(once, [] {
    void* so = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (so == nullptr) return;
    auto init = reinterpret_cast<InitFn>(dlsym(so, "nvmlInit_v2"));
    lib.handle_by_bus_id = reinterpret_cast<HandleFn>(dlsym(so, "nvmlDeviceGetHandleByPciBusId_v2"));
    lib.memory_info = reinterpret_cast<MemoryFn>(dlsym(so, "nvmlDeviceGetMemoryInfo"));
    lib.ok = init != nullptr && lib.handle_by_bus_id != nullptr && lib.memory_info != nullptr && init() == 0;
  });
  return lib;
}

}  // namespace

std::optional<std::int64_t> nvml_used_bytes(const std::string& pci_bus_id) {
  const Nvml& lib = nvml();
  if (!lib.ok) return std::nullopt;
  NvmlDevice device = nullptr;
  if (lib.handle_by_bus_id(pci_bus_id.c_str(), &device) != 0) return std::nullopt;
  NvmlMemory m{};
  if (lib.memory_info(device, &m) != 0) return std::nullopt;
  return static_cast<std::int64_t>(m.used);
}

}  // namespace optiscope::probes
