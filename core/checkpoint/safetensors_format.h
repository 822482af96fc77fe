#pragma once
// The safetensors file format, without LibTorch: an 8-byte little-endian header length, a JSON
// header {name: {dtype, shape, data_offsets}, "__metadata__": {..}}, then the raw tensor bytes.
// Parsing is strict (offsets inside the file, sizes matching dtype x shape, no overlaps) because
// the bytes are then handed to tensors without further checks.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "checkpoint/checkpoint_error.h"

namespace optiscope::checkpoint {

struct TensorEntry {
  std::string name;
  std::string dtype;  // "F32", "BF16", ... as the file writes it
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;  // byte range within the data section
  std::uint64_t end = 0;
};

struct SafetensorsHeader {
  std::vector<TensorEntry> tensors;  // in file order of their data
  std::map<std::string, std::string> metadata;
  std::uint64_t data_start = 0;  // file offset of the data section (8 + header length)
};

/// Bytes per element of a safetensors dtype name; throws CheckpointError for an unknown one.
std::size_t dtype_size(std::string_view dtype);

/// Length of the JSON header announced by a file's first 8 bytes (prefix must hold them).
std::uint64_t safetensors_header_length(std::string_view prefix);

/// Parses and checks the header. prefix: the file's first bytes (at least 8 + the announced header
/// length); file_size: the whole file's size. `what` names the file in error messages.
SafetensorsHeader parse_safetensors_header(std::string_view prefix, std::uint64_t file_size,
                                           const std::string& what = "safetensors file");

/// One tensor to write: data must hold exactly numel x dtype_size(dtype) bytes.
struct TensorBlob {
  std::string name;
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::string_view data;
};

/// A whole safetensors file as bytes (header padded to 8 bytes, tensors in the given order).
std::string write_safetensors(const std::vector<TensorBlob>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

}  // namespace optiscope::checkpoint
