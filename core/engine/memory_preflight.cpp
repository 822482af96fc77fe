#include "engine/memory_preflight.h"

#include <c10/core/Device.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "checkpoint/hf_config.h"
#include "engine/device_runtime.h"
#include "estimate/memory_estimate.h"

namespace optiscope::engine {
namespace {

// The model the run would build, or nothing when only the engine can say what is wrong with it.
std::optional<LlamaConfig> model_config(const RunSpec& spec) {
  std::error_code ec;
  const std::filesystem::path config = std::filesystem::path(spec.model) / "config.json";
  if (std::filesystem::is_directory(spec.model, ec) && std::filesystem::exists(config, ec)) {
    try {
      std::ifstream in(config, std::ios::binary);
      std::ostringstream text;
      text << in.rdbuf();
      return checkpoint::parse_hf_config(text.str()).llama;
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  try {
    return llama_preset(spec.model);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string gib(std::int64_t bytes) {
  return estimate::format_bytes(static_cast<double>(bytes));
}

}  // namespace

std::int64_t available_host_memory() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::int64_t kib = 0;
  std::string unit;
  while (in >> key >> kib) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return kib * 1024;
  }
  return 0;
}

namespace {

std::string positions_refusal(const RunSpec& spec, const LlamaConfig& config) {
  if (spec.max_seq_length <= config.max_position_embeddings) return {};
  return "max_seq_length " + std::to_string(spec.max_seq_length) + " is longer than the model's " +
         std::to_string(config.max_position_embeddings) + " positions";
}

}  // namespace

std::string refusal_without_device(const RunSpec& spec) {
  const auto config = model_config(spec);
  return config ? positions_refusal(spec, *config) : std::string();
}

MemoryCheck check_memory(const RunSpec& spec) {
  MemoryCheck check;
  const auto config = model_config(spec);
  if (!config) return check;
  // The sequence must fit the model's positions before its memory means anything (the engine says
  // the same words when it meets it).
  check.refusal = positions_refusal(spec, *config);
  if (!check.refusal.empty()) return check;
  estimate::Workload w;
  static_cast<LlamaConfig&>(w.model) = *config;
  w.model.name = spec.model;
  w.precision = spec.precision;
  w.optim = spec.optim;
  w.batch = spec.per_device_train_batch_size;
  w.seq_len = spec.max_seq_length;
  const estimate::Estimate e = estimate::estimate(w);
  const double params = static_cast<double>(config->parameter_count());
  check.estimate_text = estimate::format_count(params) + " parameters:";
  std::int64_t weights = 0;
  std::int64_t without_context = 0;
  const char* separator = " ";
  for (const auto& c : e.components) {
    if (c.name == "weights") weights = c.bytes;
    if (c.name == "CUDA context") continue;
    without_context += c.bytes;
    check.estimate_text += separator + c.name + " " + gib(c.bytes);
    separator = ", ";
  }
  // The engine builds the model in fp32 on the host, then converts and moves it.
  const auto fp32_model = static_cast<std::int64_t>(params * 4.0);
  c10::Device device(c10::kCPU);
  try {
    device = c10::Device(spec.device);
  } catch (const std::exception&) {
    return check;  // validate() reports a bad device name
  }
  if (device.is_cpu()) {
    check.host_needed = std::max(without_context, fp32_model);
  } else {
    check.host_needed = fp32_model + e.host_bytes;
    if (device_available(device)) {
      check.device_free = free_device_memory(device);
      check.device_needed = weights;
    }
  }
  check.host_free = available_host_memory();
  const auto source = "the model " + spec.model + " (" + check.estimate_text + ")";
  if (check.host_free > 0 && check.host_needed > check.host_free) {
    check.refusal =
        source + " needs about " + gib(check.host_needed) + " of host memory " +
        (device.is_cpu() ? "for a CPU run" : "to build the model before moving it to " + spec.device) +
        ", but only " + gib(check.host_free) +
        " is free: refused before starting (the kernel would kill the run without a message). "
        "Use a smaller model, or a machine with more memory";
  } else if (check.device_free > 0 && check.device_needed > check.device_free) {
    check.refusal = source + " needs " + gib(check.device_needed) +
                    " of device memory for its weights alone, but " + spec.device + " has only " +
                    gib(check.device_free) +
                    " free: refused before starting. Use a smaller model or a larger card";
  }
  return check;
}

void refuse_if_model_cannot_fit(const RunSpec& spec) {
  const MemoryCheck check = check_memory(spec);
  if (!check.refusal.empty()) throw SpecError(check.refusal);
}

}  // namespace optiscope::engine
