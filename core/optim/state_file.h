#pragma once
// Optimizer state files: safetensors (https://huggingface.co/docs/safetensors), so a saved state
// opens in Python with safetensors.numpy.load_file / safe_open as well as here.
//
// Layout: 8-byte little-endian header length H; H bytes of JSON (padded with spaces to a
// multiple of 8); the tensors' raw little-endian bytes, row-major, one after another. The JSON
// maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end)} (offsets into the
// bytes after the header), plus "__metadata__", a map of strings to strings:
//
//   format "optiscope.optimizer_state", format_version "1", variant (e.g. "paged_adamw_8bit"),
//   layout ("blockwise_adamw_8bit", "blockwise_adamw_32bit" or "torch_adamw": files of one layout
//   load into any variant of it), params (count), and lr, beta1, beta2, eps, weight_decay,
//   min_8bit_size for reading (loading keeps the optimizer's own).
//
// Tensors, i = parameter index in the optimizer's order (bitsandbytes' and torch's state names):
//   blockwise: state.i.step I64[]; state.i.state1 / state.i.state2: m and v, F32 with the
//              parameter's shape, or U8 codes for 8-bit tensors, with state.i.absmax1 /
//              state.i.absmax2 F32[ceil(n/256)]; qmap1 / qmap2 F32[256] (the signed and unsigned
//              maps, so the codes can be dequantised without Optiscope).
//   torch:     state.i.step F32[]; state.i.exp_avg / state.i.exp_avg_sq in the parameter dtype.
// A parameter that never had a gradient is saved like the others (zero state, step 0).
#include <torch/torch.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "optim/json_header.h"

namespace optiscope::optim {

class StateFileWriter {
 public:
  void metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  /// Adds a tensor (any device, any strides); it is read when write() runs, one at a time, so a
  /// large device state needs host memory for one tensor only.
  void add(const std::string& name, const torch::Tensor& t);
  /// Writes PATH.tmp, then renames it to PATH. Throws std::runtime_error on I/O errors.
  void write(const std::string& path) const;

 private:
  std::map<std::string, std::string> metadata_;
  std::vector<std::pair<std::string, torch::Tensor>> tensors_;
};

class StateFileReader {
 public:
  /// Reads and checks the header (offsets inside the file, sizes matching dtype and shape).
  explicit StateFileReader(const std::string& path);
  /// Throws std::runtime_error when the key is missing.
  const std::string& metadata(const std::string& key) const;
  bool has(const std::string& name) const { return entries_.count(name) != 0; }
  std::vector<std::int64_t> shape(const std::string& name) const { return entry(name).shape; }
  torch::ScalarType dtype(const std::string& name) const { return entry(name).dtype; }
  /// The tensor as a new CPU tensor.
  torch::Tensor read(const std::string& name) const;
  /// Copies the tensor into dst (any device), whose dtype and shape must match the file's.
  void read_into(const std::string& name, torch::Tensor& dst) const;

 private:
  struct Entry {
    torch::ScalarType dtype;
    std::vector<std::int64_t> shape;
    std::uint64_t begin;
    std::uint64_t end;
  };
  const Entry& entry(const std::string& name) const;

  std::string path_;
  std::uint64_t data_start_ = 0;
  std::map<std::string, std::string> metadata_;
  std::map<std::string, Entry> entries_;
};

/// Throws std::runtime_error naming the file when the state's layout or parameter count differs.
void expect_layout(const StateFileReader& in, const std::string& layout, std::size_t params);
// ---------------------------------------------------------------------------------------------
// Inline definitions: core/optim's sources are listed in core/CMakeLists.txt, which this folder
// does not own; a header keeps the format usable without touching it.

namespace state_file_detail {

struct DtypeName {
  torch::ScalarType type;
  const char* name;
};
inline constexpr DtypeName kDtypes[] = {
    {torch::kFloat32, "F32"}, {torch::kBFloat16, "BF16"}, {torch::kFloat16, "F16"}, {torch::kFloat64, "F64"},
    {torch::kUInt8, "U8"},    {torch::kInt32, "I32"},     {torch::kInt64, "I64"}};

inline std::string dtype_name(torch::ScalarType t) {
  for (const auto& d : kDtypes)
    if (d.type == t) return d.name;
  throw std::runtime_error(std::string("state file: no safetensors name for dtype ") + c10::toString(t));
}

inline torch::ScalarType dtype_from(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return d.type;
  throw std::runtime_error("state file: unsupported dtype " + name);
}

[[noreturn]] inline void io_error(const std::string& what, const std::string& path) {
  throw std::runtime_error("optimizer state file " + path + ": " + what);
}

}  // namespace state_file_detail

inline void StateFileWriter::add(const std::string& name, const torch::Tensor& t) {
  for (const auto& [n, unused] : tensors_)
    if (n == name) throw std::logic_error("state file: tensor " + name + " added twice");
  tensors_.emplace_back(name, t);
}

inline void StateFileWriter::write(const std::string& path) const {
  namespace d = state_file_detail;
  // Appended piece by piece: GCC 12 at -O3 warns (falsely) on "literal" + std::string&&.
  std::string header = "{\"__metadata__\":{";
  bool first = true;
  for (const auto& [k, v] : metadata_) {
    if (!first) header.append(",");
    header.append(json::quote(k)).append(":").append(json::quote(v));
    first = false;
  }
  header.append("}");
  std::uint64_t offset = 0;
  for (const auto& [name, t] : tensors_) {
    const auto bytes = static_cast<std::uint64_t>(t.numel()) * static_cast<std::uint64_t>(t.element_size());
    header.append(",").append(json::quote(name)).append(":{\"dtype\":\"");
    header.append(d::dtype_name(t.scalar_type())).append("\",\"shape\":[");
    for (std::int64_t i = 0; i < t.dim(); ++i) {
      if (i > 0) header.append(",");
      header.append(std::to_string(t.size(i)));
    }
    header.append("],\"data_offsets\":[").append(std::to_string(offset)).append(",");
    header.append(std::to_string(offset + bytes)).append("]}");
    offset += bytes;
  }
  header += "}";
  // The data starts 8-byte aligned, as the safetensors writers align it.
  while ((header.size() + 8) % 8 != 0) header += ' ';

  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) d::io_error("cannot create", tmp);
    std::uint64_t n = header.size();
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (const auto& [name, t] : tensors_) {
      const torch::Tensor host = t.detach().to(torch::kCPU).contiguous();
      out.write(static_cast<const char*>(host.data_ptr()), static_cast<std::streamsize>(host.nbytes()));
    }
    out.flush();
    if (!out) d::io_error("write failed (disk full?)", tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) d::io_error("cannot rename " + tmp + " to it", path);
}

inline StateFileReader::StateFileReader(const std::string& path) : path_(path) {
  namespace d = state_file_detail;
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) d::io_error("cannot open", path);
  const auto file_size = static_cast<std::uint64_t>(in.tellg());
  in.seekg(0);
  unsigned char len[8] = {};
  in.read(reinterpret_cast<char*>(len), 8);
  std::uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= static_cast<std::uint64_t>(len[i]) << (8 * i);
  if (!in || header_size > file_size - 8 || header_size > (std::uint64_t{100} << 20))
    d::io_error("not a safetensors file (bad header length)", path);
  std::string text(header_size, ' ');
  in.read(text.data(), static_cast<std::streamsize>(header_size));
  if (!in) d::io_error("truncated header", path);
  data_start_ = 8 + header_size;
  const json::Value root = json::Parser(text).parse_document();
  if (root.kind != json::Value::Kind::object) d::io_error("header is not a JSON object", path);
  for (const auto& [name, v] : root.object) {
    if (name == "__metadata__") {
      for (const auto& [k, s] : v.object)
        if (s.kind == json::Value::Kind::string) metadata_[k] = s.string;
      continue;
    }
    const auto dt = v.object.find("dtype");
    const auto sh = v.object.find("shape");
    const auto off = v.object.find("data_offsets");
    if (dt == v.object.end() || sh == v.object.end() || off == v.object.end() ||
        off->second.array.size() != 2)
      d::io_error("tensor " + name + " lacks dtype, shape or data_offsets", path);
    Entry e{d::dtype_from(dt->second.string), {}, off->second.array[0].integer, off->second.array[1].integer};
    std::uint64_t numel = 1;
    for (const auto& x : sh->second.array) {
      e.shape.push_back(static_cast<std::int64_t>(x.integer));
      numel *= x.integer;
    }
    const auto bytes = numel * static_cast<std::uint64_t>(c10::elementSize(e.dtype));
    if (e.end < e.begin || e.end - e.begin != bytes || data_start_ + e.end > file_size)
      d::io_error("tensor " + name + " has offsets that do not match its shape or the file size", path);
    entries_[name] = std::move(e);
  }
}

inline const std::string& StateFileReader::metadata(const std::string& key) const {
  const auto it = metadata_.find(key);
  if (it == metadata_.end()) state_file_detail::io_error("no metadata '" + key + "'", path_);
  return it->second;
}

inline const StateFileReader::Entry& StateFileReader::entry(const std::string& name) const {
  const auto it = entries_.find(name);
  if (it == entries_.end()) state_file_detail::io_error("no tensor '" + name + "'", path_);
  return it->second;
}

inline torch::Tensor StateFileReader::read(const std::string& name) const {
  const Entry& e = entry(name);
  torch::Tensor t = torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype));
  std::ifstream in(path_, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(data_start_ + e.begin));
  in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(e.end - e.begin));
  if (!in) state_file_detail::io_error("cannot read tensor '" + name + "'", path_);
  return t;
}

inline void StateFileReader::read_into(const std::string& name, torch::Tensor& dst) const {
  const Entry& e = entry(name);
  if (dst.scalar_type() != e.dtype || dst.sizes() != c10::IntArrayRef(e.shape))
    state_file_detail::io_error("tensor '" + name + "' is " + state_file_detail::dtype_name(e.dtype) +
                                    c10::str(c10::IntArrayRef(e.shape)) + ", the optimizer's is " +
                                    state_file_detail::dtype_name(dst.scalar_type()) + c10::str(dst.sizes()),
                                path_);
  torch::NoGradGuard no_grad;
  dst.copy_(read(name));
}

inline void expect_layout(const StateFileReader& in, const std::string& layout, std::size_t params) {
  if (in.metadata("format") != "optiscope.optimizer_state")
    throw std::runtime_error("not an Optiscope optimizer state file (format '" + in.metadata("format") +
                             "')");
  if (in.metadata("format_version") != "1")
    throw std::runtime_error("optimizer state format version " + in.metadata("format_version") +
                             " is newer than this build reads (1)");
  if (in.metadata("layout") != layout)
    throw std::runtime_error("optimizer state of " + in.metadata("variant") + " (layout " +
                             in.metadata("layout") + ") cannot be loaded into a " + layout + " optimizer");
  if (in.metadata("params") != std::to_string(params))
    throw std::runtime_error("optimizer state holds " + in.metadata("params") +
                             " parameters, the optimizer has " + std::to_string(params));
}

}  // namespace optiscope::optim
