#include "checkpoint/safetensors_format.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace optiscope::checkpoint {
namespace {

using nlohmann::json;

// Headers of real checkpoints are well under a megabyte; the reference implementation refuses
// anything over 100 MB, and so do we, before allocating for it.
constexpr std::uint64_t kMaxHeader = 100ull * 1024 * 1024;

std::uint64_t checked_mul(std::uint64_t a, std::uint64_t b, const std::string& what) {
  if (a != 0 && b > UINT64_MAX / a) throw CheckpointError(what + ": tensor size overflows");
  return a * b;
}

}  // namespace

std::size_t dtype_size(std::string_view dtype) {
  static const std::map<std::string_view, std::size_t> sizes = {
      {"F64", 8}, {"F32", 4},  {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},     {"I16", 2},    {"I8", 1},
      {"U8", 1},  {"BOOL", 1}, {"U16", 2}, {"U32", 4},  {"U64", 8}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
  const auto it = sizes.find(dtype);
  if (it == sizes.end()) throw CheckpointError("unknown safetensors dtype '" + std::string(dtype) + "'");
  return it->second;
}

std::uint64_t safetensors_header_length(std::string_view prefix) {
  if (prefix.size() < 8)
    throw CheckpointError("safetensors file is truncated: shorter than its 8-byte header length");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(prefix[static_cast<std::size_t>(i)]);
  return n;
}

SafetensorsHeader parse_safetensors_header(std::string_view prefix, std::uint64_t file_size,
                                           const std::string& what) {
  const std::uint64_t header_len = safetensors_header_length(prefix);
  if (header_len > kMaxHeader)
    throw CheckpointError(what + ": header length " + std::to_string(header_len) +
                          " is implausible (not a safetensors file?)");
  if (8 + header_len > file_size)
    throw CheckpointError(what + " is truncated: its header needs " + std::to_string(8 + header_len) +
                          " bytes, the file has " + std::to_string(file_size));
  if (prefix.size() < 8 + header_len) throw CheckpointError(what + ": header bytes not supplied");
  json j;
  try {
    j = json::parse(prefix.substr(8, header_len));
  } catch (const json::exception& e) {
    throw CheckpointError(what + ": header is not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw CheckpointError(what + ": header is not a JSON object");
  SafetensorsHeader h;
  h.data_start = 8 + header_len;
  const std::uint64_t data_size = file_size - h.data_start;
  for (const auto& [name, value] : j.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) throw CheckpointError(what + ": __metadata__ is not an object");
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string())
          throw CheckpointError(what + ": __metadata__ value of '" + k + "' is not a string");
        h.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string where = what + ": tensor '" + name + "'";
    if (!value.is_object() || !value.contains("dtype") || !value.contains("shape") ||
        !value.contains("data_offsets"))
      throw CheckpointError(where + " needs dtype, shape and data_offsets");
    const json& dt = value["dtype"];
    const json& shape = value["shape"];
    const json& offsets = value["data_offsets"];
    if (!dt.is_string()) throw CheckpointError(where + ": dtype is not a string");
    if (!shape.is_array()) throw CheckpointError(where + ": shape is not an array");
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned())
      throw CheckpointError(where + ": data_offsets must be two non-negative integers");
    TensorEntry e;
    e.name = name;
    e.dtype = dt.get<std::string>();
    std::uint64_t bytes = dtype_size(e.dtype);
    for (const json& d : shape) {
      if (!d.is_number_unsigned())
        throw CheckpointError(where + ": shape entries must be non-negative integers");
      const auto dim = d.get<std::uint64_t>();
      if (dim > static_cast<std::uint64_t>(INT64_MAX)) throw CheckpointError(where + ": dimension too large");
      e.shape.push_back(static_cast<std::int64_t>(dim));
      bytes = checked_mul(bytes, dim, where);
    }
    e.begin = offsets[0].get<std::uint64_t>();
    e.end = offsets[1].get<std::uint64_t>();
    if (e.begin > e.end || e.end > data_size)
      throw CheckpointError(where + ": data_offsets [" + std::to_string(e.begin) + ", " +
                            std::to_string(e.end) + "] lie outside the " + std::to_string(data_size) +
                            " data bytes (truncated file?)");
    if (e.end - e.begin != bytes)
      throw CheckpointError(where + ": holds " + std::to_string(e.end - e.begin) +
                            " bytes, its dtype and shape need " + std::to_string(bytes));
    h.tensors.push_back(std::move(e));
  }
  std::sort(h.tensors.begin(), h.tensors.end(),
            [](const TensorEntry& a, const TensorEntry& b) { return a.begin < b.begin; });
  for (std::size_t i = 1; i < h.tensors.size(); ++i) {
    if (h.tensors[i].begin < h.tensors[i - 1].end)
      throw CheckpointError(what + ": tensors '" + h.tensors[i - 1].name + "' and '" + h.tensors[i].name +
                            "' overlap");
  }
  return h;
}

std::string write_safetensors(const std::vector<TensorBlob>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    std::uint64_t bytes = dtype_size(t.dtype);
    for (const auto d : t.shape) {
      if (d < 0) throw CheckpointError("tensor '" + t.name + "' has a negative dimension");
      bytes = checked_mul(bytes, static_cast<std::uint64_t>(d), t.name);
    }
    if (bytes != t.data.size())
      throw CheckpointError("tensor '" + t.name + "': " + std::to_string(t.data.size()) + " bytes given, " +
                            std::to_string(bytes) + " needed");
    if (header.contains(t.name)) throw CheckpointError("tensor '" + t.name + "' is written twice");
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  // The data section starts 8-byte aligned, as the reference writer pads it.
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out;
  out.reserve(8 + text.size() + offset);
  std::uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  out += text;
  for (const auto& t : tensors) out.append(t.data);
  return out;
}

}  // namespace optiscope::checkpoint
