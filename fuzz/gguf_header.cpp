// Fuzz target: a GGUF file's header and metadata (a model from someone else). The input is the
// whole file. Either it is refused with CheckpointError, or every tensor lies inside the data
// section with the bytes its type and shape need, overlapping no other, and reading every metadata
// value and the llama geometry either works or throws CheckpointError: the engine hands these byte
// ranges to the dequantizer without further checks.
#include <algorithm>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "checkpoint/gguf_dequant.h"
#include "checkpoint/gguf_format.h"
#include "checkpoint/gguf_llama.h"
#include "fuzz_util.h"

using optiscope::fuzz::finding;
namespace ck = optiscope::checkpoint;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view file(reinterpret_cast<const char*>(data), size);
  ck::GgufHeader h;
  try {
    h = ck::parse_gguf(file, "fuzz.gguf");
  } catch (const ck::CheckpointError&) {
    return 0;
  }
  if (h.data_start % h.alignment != 0) finding("data section not aligned");
  const std::uint64_t data_bytes = h.data_start <= size ? size - h.data_start : 0;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  for (const auto& t : h.tensors) {
    if (t.offset > data_bytes || t.bytes > data_bytes - t.offset) finding("tensor bytes outside the file");
    const auto block = ck::ggml_block(static_cast<std::uint32_t>(t.type), t.name);
    if (t.numel() % block.elements != 0) finding("tensor is not whole blocks");
    if (t.bytes != static_cast<std::uint64_t>(t.numel() / block.elements * block.bytes))
      finding("tensor byte count differs from type x shape");
    if (t.bytes > 0) ranges.emplace_back(t.offset, t.offset + t.bytes);
    // Dequantize small tensors: the byte range must be exactly what the dequantizer wants.
    if (t.numel() <= 4096) {
      std::vector<float> out(static_cast<std::size_t>(t.numel()));
      ck::dequantize(t.type, file.substr(h.data_start + t.offset, t.bytes), t.numel(), out.data());
    }
  }
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second) finding("overlapping tensors accepted");
  for (const auto& [key, value] : h.metadata) {
    try {
      if (value.is_array()) {
        if (value.element_type() == ck::GgufValueType::string)
          (void)value.as_strings(key);
        else
          (void)value.as_ints(key);
      } else if (value.type() == ck::GgufValueType::string) {
        (void)value.as_string(key);
      } else {
        (void)value.as_float(key);
      }
    } catch (const ck::CheckpointError&) {
    }
  }
  try {
    const auto config = ck::gguf_llama_config(h, "fuzz.gguf");
    ck::check_gguf_tensors(h, config, "fuzz.gguf");
  } catch (const ck::CheckpointError&) {
  }
  return 0;
}
