#pragma once
// The device's used memory as NVML (nvidia-smi) reports it, read through libnvidia-ml loaded at run
// time: the program needs no NVML at build time and runs where the driver has none. NVML answers
// without a CUDA context, which is what lets the context itself be measured: used before the
// context exists against used after.
#include <cstdint>
#include <optional>
#include <string>

namespace optiscope::probes {

/// Used bytes of the device with this PCI bus id ("0000:19:00.0"), or nothing when NVML is missing
/// or does not know the device.
std::optional<std::int64_t> nvml_used_bytes(const std::string& pci_bus_id);

}  // namespace optiscope::probes
