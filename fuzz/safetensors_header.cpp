// Fuzz target: the header of a safetensors file (a checkpoint from someone else). The input is the
// whole file. Either the header is refused with CheckpointError, or every tensor it describes lies
// inside the file, has as many bytes as its dtype and shape say, and overlaps no other: the engine
// hands these byte ranges to tensors without further checks.
#include <algorithm>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "checkpoint/safetensors_format.h"
#include "fuzz_util.h"

using optiscope::fuzz::finding;
namespace ck = optiscope::checkpoint;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view file(reinterpret_cast<const char*>(data), size);
  if (size >= 8) {
    try {
      (void)ck::safetensors_header_length(file.substr(0, 8));
    } catch (const ck::CheckpointError&) {
    }
  }
  ck::SafetensorsHeader h;
  try {
    h = ck::parse_safetensors_header(file, size, "fuzz.safetensors");
  } catch (const ck::CheckpointError&) {
    return 0;
  }
  if (h.data_start > size || h.data_start < 8) finding("data section starts outside the file");
  const std::uint64_t data_bytes = size - h.data_start;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  for (const auto& t : h.tensors) {
    if (t.begin > t.end || t.end > data_bytes) finding("tensor bytes outside the data section");
    std::uint64_t numel = 1;
    for (const auto d : t.shape) {
      if (d < 0) finding("negative dimension accepted");
      numel *= static_cast<std::uint64_t>(d);
    }
    std::size_t elem = 0;
    try {
      elem = ck::dtype_size(t.dtype);
    } catch (const ck::CheckpointError&) {
      finding("an accepted tensor has an unknown dtype");
    }
    if (t.end - t.begin != numel * elem) finding("tensor byte count differs from dtype x shape");
    if (t.end > t.begin) ranges.emplace_back(t.begin, t.end);
  }
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second) finding("overlapping tensors accepted");
  return 0;
}
