#include "checkpoint/gguf_format.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

namespace optiscope::checkpoint {
namespace {

// Far above any real file (llama.cpp's largest models have a few thousand tensors and a few dozen
// keys), low enough that the containers they size stay small.
constexpr std::uint64_t kMaxTensors = 1u << 20;
constexpr std::uint64_t kMaxKeys = 1u << 16;
constexpr std::uint32_t kMaxDims = 4;  // GGML_MAX_DIMS
constexpr std::uint64_t kMaxAlignment = 1u << 16;

[[noreturn]] void fail(const std::string& what, const std::string& problem) {
  throw CheckpointError(what + ": " + problem);
}

std::size_t scalar_size(GgufValueType t) {
  switch (t) {
    case GgufValueType::u8:
    case GgufValueType::i8:
    case GgufValueType::boolean:
      return 1;
    case GgufValueType::u16:
    case GgufValueType::i16:
      return 2;
    case GgufValueType::u32:
    case GgufValueType::i32:
    case GgufValueType::f32:
      return 4;
    case GgufValueType::u64:
    case GgufValueType::i64:
    case GgufValueType::f64:
      return 8;
    case GgufValueType::string:
    case GgufValueType::array:
      return 0;
  }
  return 0;
}

template <typename T>
T load(std::string_view bytes, std::size_t at = 0) {
  T v;
  std::memcpy(&v, bytes.data() + at, sizeof v);  // GGUF is little-endian, as is every host we build for
  return v;
}

// Reads forward through the file, refusing to step past its end.
class Cursor {
 public:
  Cursor(std::string_view file, const std::string& what) : file_(file), what_(what) {}

  std::size_t position() const { return pos_; }
  /// The bytes from `start` to the current position.
  std::string_view since(std::size_t start) const { return file_.substr(start, pos_ - start); }
  std::uint64_t remaining() const { return file_.size() - pos_; }

  std::string_view take(std::uint64_t n, const char* item) {
    if (n > remaining())
      fail(what_, std::string("truncated: ") + item + " needs " + std::to_string(n) + " bytes at offset " +
                      std::to_string(pos_) + ", the file has " + std::to_string(remaining()) + " left");
    const auto out = file_.substr(pos_, static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return out;
  }
  template <typename T>
  T read(const char* item) {
    return load<T>(take(sizeof(T), item));
  }
  std::string_view string(const char* item) {
    const auto n = read<std::uint64_t>(item);
    return take(n, item);
  }

 private:
  std::string_view file_;
  const std::string& what_;
  std::size_t pos_ = 0;
};

GgufValueType value_type(std::uint32_t raw, const std::string& what, std::string_view key) {
  if (raw > static_cast<std::uint32_t>(GgufValueType::f64))
    fail(what, "metadata '" + std::string(key) + "' has unknown value type " + std::to_string(raw));
  return static_cast<GgufValueType>(raw);
}

GgufValue read_value(Cursor& in, GgufValueType type, const std::string& what, std::string_view key) {
  if (type == GgufValueType::string) return GgufValue(type, in.string("a metadata string"));
  if (type != GgufValueType::array) return GgufValue(type, in.take(scalar_size(type), "a metadata value"));
  const auto element = value_type(in.read<std::uint32_t>("an array type"), what, key);
  const auto count = in.read<std::uint64_t>("an array length");
  if (element == GgufValueType::array)
    fail(what, "metadata '" + std::string(key) + "' is an array of arrays (not supported)");
  const std::size_t start = in.position();
  if (element == GgufValueType::string) {
    // Each string takes at least its 8-byte length: a count the file cannot hold is refused
    // before the loop walks it.
    if (count > in.remaining() / 8)
      fail(what, "metadata '" + std::string(key) + "' claims " + std::to_string(count) +
                     " strings, more than the file could hold");
    for (std::uint64_t i = 0; i < count; ++i) (void)in.string("a string in a metadata array");
  } else {
    const auto size = scalar_size(element);
    if (count > in.remaining() / size)
      fail(what, "truncated: metadata '" + std::string(key) + "' claims " + std::to_string(count) +
                     " elements, more than the file holds");
    (void)in.take(count * size, "a metadata array");
  }
  return GgufValue(type, in.since(start), element, count);
}

std::string type_label(GgufValueType t) {
  static const char* const names[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                      "bool", "string", "array", "u64", "i64", "f64"};
  return names[static_cast<std::uint32_t>(t)];
}

[[noreturn]] void wrong_type(std::string_view key, GgufValueType t, const char* wanted) {
  throw CheckpointError("GGUF metadata '" + std::string(key) + "' is " + type_label(t) + ", not " + wanted);
}

bool is_integer(GgufValueType t) {
  return t != GgufValueType::f32 && t != GgufValueType::f64 && t != GgufValueType::string &&
         t != GgufValueType::array;
}

std::int64_t scalar_int(GgufValueType t, std::string_view bytes, std::string_view key) {
  switch (t) {
    case GgufValueType::u8:
    case GgufValueType::boolean:
      return load<std::uint8_t>(bytes);
    case GgufValueType::i8:
      return load<std::int8_t>(bytes);
    case GgufValueType::u16:
      return load<std::uint16_t>(bytes);
    case GgufValueType::i16:
      return load<std::int16_t>(bytes);
    case GgufValueType::u32:
      return load<std::uint32_t>(bytes);
    case GgufValueType::i32:
      return load<std::int32_t>(bytes);
    case GgufValueType::i64:
      return load<std::int64_t>(bytes);
    case GgufValueType::u64: {
      const auto v = load<std::uint64_t>(bytes);
      if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        throw CheckpointError("GGUF metadata '" + std::string(key) + "' is out of range");
      return static_cast<std::int64_t>(v);
    }
    default:
      wrong_type(key, t, "an integer");
  }
}

std::uint64_t align_up(std::uint64_t n, std::uint64_t alignment) {
  return (n + alignment - 1) / alignment * alignment;
}

}  // namespace

std::int64_t GgufValue::as_int(std::string_view key) const {
  if (!is_integer(type_)) wrong_type(key, type_, "an integer");
  return scalar_int(type_, bytes_, key);
}

double GgufValue::as_float(std::string_view key) const {
  if (type_ == GgufValueType::f32) return load<float>(bytes_);
  if (type_ == GgufValueType::f64) return load<double>(bytes_);
  if (is_integer(type_)) return static_cast<double>(as_int(key));
  wrong_type(key, type_, "a number");
}

std::string GgufValue::as_string(std::string_view key) const {
  if (type_ != GgufValueType::string) wrong_type(key, type_, "a string");
  return std::string(bytes_);
}

std::vector<std::string> GgufValue::as_strings(std::string_view key) const {
  if (type_ != GgufValueType::array || element_type_ != GgufValueType::string)
    wrong_type(key, type_, "an array of strings");
  std::vector<std::string> out;
  out.reserve(count_);  // bounded by the parser: each element took at least 8 bytes of the file
  std::size_t at = 0;
  for (std::uint64_t i = 0; i < count_; ++i) {
    const auto n = static_cast<std::size_t>(load<std::uint64_t>(bytes_, at));
    out.emplace_back(bytes_.substr(at + 8, n));
    at += 8 + n;
  }
  return out;
}

std::vector<std::int64_t> GgufValue::as_ints(std::string_view key) const {
  if (type_ != GgufValueType::array || !is_integer(element_type_))
    wrong_type(key, type_, "an array of integers");
  std::vector<std::int64_t> out;
  out.reserve(count_);
  const auto size = scalar_size(element_type_);
  for (std::uint64_t i = 0; i < count_; ++i)
    out.push_back(scalar_int(element_type_, bytes_.substr(i * size, size), key));
  return out;
}

std::string ggml_type_name(GgmlType type) {
  switch (type) {
    case GgmlType::f32:
      return "F32";
    case GgmlType::f16:
      return "F16";
    case GgmlType::q4_0:
      return "Q4_0";
    case GgmlType::q4_1:
      return "Q4_1";
    case GgmlType::q8_0:
      return "Q8_0";
    case GgmlType::bf16:
      return "BF16";
  }
  return "type " + std::to_string(static_cast<std::uint32_t>(type));
}

GgmlBlock ggml_block(std::uint32_t type, std::string_view tensor_name) {
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::f32:
      return {1, 4};
    case GgmlType::f16:
    case GgmlType::bf16:
      return {1, 2};
    case GgmlType::q4_0:
      return {32, 18};  // f16 scale, 16 bytes of nibbles
    case GgmlType::q4_1:
      return {32, 20};  // f16 scale, f16 minimum, 16 bytes of nibbles
    case GgmlType::q8_0:
      return {32, 34};  // f16 scale, 32 signed bytes
  }
  throw CheckpointError(
      "tensor '" + std::string(tensor_name) + "' has ggml type " + std::to_string(type) +
      ", which this reader cannot dequantize (F32, F16, BF16, Q8_0, Q4_0, Q4_1 are supported)");
}

std::int64_t GgufTensorInfo::numel() const {
  std::int64_t n = 1;
  for (const auto d : shape) n *= d;
  return n;
}

const GgufValue* GgufHeader::find(std::string_view key) const {
  const auto it = metadata.find(key);
  return it == metadata.end() ? nullptr : &it->second;
}

const GgufValue& GgufHeader::at(std::string_view key) const {
  if (const auto* v = find(key)) return *v;
  throw CheckpointError("GGUF metadata has no '" + std::string(key) + "'");
}

const GgufTensorInfo* GgufHeader::tensor(std::string_view name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

GgufHeader parse_gguf(std::string_view file, const std::string& what) {
  Cursor in(file, what);
  GgufHeader h;
  if (file.size() < 4 || file.substr(0, 4) != "GGUF")
    fail(what, "not a GGUF file (it does not start with the magic bytes 'GGUF')");
  (void)in.take(4, "the magic");
  h.version = in.read<std::uint32_t>("the version");
  if (h.version != 2 && h.version != 3)
    fail(what, "GGUF version " + std::to_string(h.version) + " is not supported (versions 2 and 3 are)");
  const auto tensor_count = in.read<std::uint64_t>("the tensor count");
  const auto key_count = in.read<std::uint64_t>("the metadata count");
  // A key takes at least 12 bytes (length and type), a tensor info at least 24.
  if (key_count > kMaxKeys || key_count > in.remaining() / 12)
    fail(what,
         "the header claims " + std::to_string(key_count) + " metadata entries, more than the file holds");
  if (tensor_count > kMaxTensors || tensor_count > in.remaining() / 24)
    fail(what, "the header claims " + std::to_string(tensor_count) + " tensors, more than the file holds");

  for (std::uint64_t i = 0; i < key_count; ++i) {
    const auto key = in.string("a metadata key");
    const auto type = value_type(in.read<std::uint32_t>("a metadata type"), what, key);
    auto value = read_value(in, type, what, key);
    if (!h.metadata.emplace(std::string(key), value).second)
      fail(what, "metadata key '" + std::string(key) + "' appears twice");
  }
  if (const auto* a = h.find("general.alignment")) {
    const auto alignment = a->as_int("general.alignment");
    if (alignment <= 0 || static_cast<std::uint64_t>(alignment) > kMaxAlignment ||
        (alignment & (alignment - 1)) != 0)
      fail(what, "general.alignment " + std::to_string(alignment) + " is not a power of two up to 65536");
    h.alignment = static_cast<std::uint64_t>(alignment);
  }

  std::set<std::string, std::less<>> names;
  h.tensors.reserve(tensor_count);
  for (std::uint64_t i = 0; i < tensor_count; ++i) {
    GgufTensorInfo t;
    t.name = std::string(in.string("a tensor name"));
    if (!names.insert(t.name).second) fail(what, "tensor '" + t.name + "' appears twice");
    const auto dims = in.read<std::uint32_t>("a tensor's dimension count");
    if (dims == 0 || dims > kMaxDims)
      fail(what, "tensor '" + t.name + "' has " + std::to_string(dims) + " dimensions (1 to 4 allowed)");
    std::vector<std::uint64_t> ne(dims);
    std::uint64_t numel = 1;
    for (auto& d : ne) {
      d = in.read<std::uint64_t>("a tensor dimension");
      // 2^40 elements is 4 TiB of F32: far beyond any tensor, and products of four stay in range
      // once the running product is checked too.
      if (d == 0 || d > (std::uint64_t{1} << 40) || numel > (std::uint64_t{1} << 50) / d)
        fail(what, "tensor '" + t.name + "' has an impossible dimension " + std::to_string(d));
      numel *= d;
    }
    const auto raw_type = in.read<std::uint32_t>("a tensor type");
    const auto block = ggml_block(raw_type, t.name);
    t.type = static_cast<GgmlType>(raw_type);
    if (ne[0] % static_cast<std::uint64_t>(block.elements) != 0)
      fail(what, "tensor '" + t.name + "' has rows of " + std::to_string(ne[0]) + " elements, not whole " +
                     ggml_type_name(t.type) + " blocks of " + std::to_string(block.elements));
    t.bytes = numel / static_cast<std::uint64_t>(block.elements) * static_cast<std::uint64_t>(block.bytes);
    t.offset = in.read<std::uint64_t>("a tensor offset");
    if (t.offset % h.alignment != 0)
      fail(what, "tensor '" + t.name + "' starts at offset " + std::to_string(t.offset) +
                     ", not a multiple of the alignment " + std::to_string(h.alignment));
    for (auto d = ne.rbegin(); d != ne.rend(); ++d) t.shape.push_back(static_cast<std::int64_t>(*d));
    h.tensors.push_back(std::move(t));
  }

  h.data_start = align_up(in.position(), h.alignment);
  const std::uint64_t data_bytes = h.data_start <= file.size() ? file.size() - h.data_start : 0;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  for (const auto& t : h.tensors) {
    if (t.offset > data_bytes || t.bytes > data_bytes - t.offset)
      fail(what, "truncated: tensor '" + t.name + "' (" + std::to_string(t.bytes) + " bytes at data offset " +
                     std::to_string(t.offset) + ") ends past the end of the file");
    ranges.emplace_back(t.offset, t.offset + t.bytes);
  }
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second) fail(what, "two tensors overlap in the data section");
  return h;
}

}  // namespace optiscope::checkpoint
