#pragma once
// The GGUF file format (llama.cpp, Ollama), version 2 and 3, without LibTorch: a header (magic,
// version, tensor and metadata counts), typed metadata key/values, tensor infos (name, dims, ggml
// type, offset), padding to the file's alignment, then the tensor data.
//
// Parsing works on the whole file's bytes (a memory mapping) and is strict: every count, length
// and offset is checked against the bytes that are really there before anything is sized by it,
// so a lying file is refused with CheckpointError without a large allocation. Metadata values are
// not copied: they stay views into the file and are decoded when asked for.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "checkpoint/checkpoint_error.h"

namespace optiscope::checkpoint {

/// GGUF metadata value types, numbered as the file writes them.
enum class GgufValueType : std::uint32_t {
  u8 = 0,
  i8 = 1,
  u16 = 2,
  i16 = 3,
  u32 = 4,
  i32 = 5,
  f32 = 6,
  boolean = 7,
  string = 8,
  array = 9,
  u64 = 10,
  i64 = 11,
  f64 = 12,
};

/// One metadata value: its type and its bytes inside the file (for an array: the elements,
/// after the element type and count).
class GgufValue {
 public:
  GgufValue() = default;
  GgufValue(GgufValueType type, std::string_view bytes, GgufValueType element_type = GgufValueType::u8,
            std::uint64_t count = 0)
      : type_(type), element_type_(element_type), count_(count), bytes_(bytes) {}

  GgufValueType type() const { return type_; }
  bool is_array() const { return type_ == GgufValueType::array; }
  GgufValueType element_type() const { return element_type_; }
  std::uint64_t array_size() const { return count_; }

  /// Any integer type (or bool) as a signed 64-bit value; CheckpointError naming `key` otherwise,
  /// or when a u64 does not fit.
  std::int64_t as_int(std::string_view key) const;
  /// Any integer or float type as a double.
  double as_float(std::string_view key) const;
  std::string as_string(std::string_view key) const;
  /// Elements of an array of strings / of integers.
  std::vector<std::string> as_strings(std::string_view key) const;
  std::vector<std::int64_t> as_ints(std::string_view key) const;

 private:
  GgufValueType type_ = GgufValueType::u8;
  GgufValueType element_type_ = GgufValueType::u8;
  std::uint64_t count_ = 0;
  std::string_view bytes_;
};

/// ggml tensor types this reader can dequantize, numbered as the file writes them.
enum class GgmlType : std::uint32_t {
  f32 = 0,
  f16 = 1,
  q4_0 = 2,
  q4_1 = 3,
  q8_0 = 8,
  bf16 = 30,
};

std::string ggml_type_name(GgmlType type);

struct GgufTensorInfo {
  std::string name;
  std::vector<std::int64_t> shape;  // torch order: the file's dimensions reversed (rows first)
  GgmlType type = GgmlType::f32;
  std::uint64_t offset = 0;  // from the start of the data section
  std::uint64_t bytes = 0;   // as the type and shape require
  std::int64_t numel() const;
};

struct GgufHeader {
  std::uint32_t version = 0;
  std::map<std::string, GgufValue, std::less<>> metadata;
  std::vector<GgufTensorInfo> tensors;  // in file order
  std::uint64_t alignment = 32;
  std::uint64_t data_start = 0;  // file offset of the data section

  const GgufValue* find(std::string_view key) const;
  /// The value of `key`; CheckpointError naming the key when it is missing. Keep a pointer to it,
  /// not a reference: GCC 13's -Wdangling-reference flags a reference bound to a call whose
  /// argument is a temporary (the key), an error where OPTISCOPE_WERROR is on.
  const GgufValue& at(std::string_view key) const;
  const GgufTensorInfo* tensor(std::string_view name) const;
};

/// Elements per block and bytes per block of a ggml type (1 and the element size for plain
/// floats); CheckpointError for a type this reader does not know.
struct GgmlBlock {
  std::int64_t elements;
  std::int64_t bytes;
};
GgmlBlock ggml_block(std::uint32_t type, std::string_view tensor_name);

/// Parses the header of a whole GGUF file held in `file` (every byte, e.g. a mapping). `what`
/// names the file in messages. Throws CheckpointError for a wrong magic or version, truncation,
/// counts larger than the bytes could hold, unknown value or tensor types, a bad alignment,
/// tensors outside the data section, misaligned or overlapping, or a shape whose rows are not
/// whole blocks.
GgufHeader parse_gguf(std::string_view file, const std::string& what);

}  // namespace optiscope::checkpoint
