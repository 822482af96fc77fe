#pragma once
// Writes small GGUF files byte by byte for the tests and the fuzz seeds: the format written out
// from its specification, independently of the reader under test.
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace optiscope::testing {

class GgufWriter {
 public:
  template <typename T>
  static void put(std::string& out, T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    out.append(b, sizeof(T));
  }
  static void put_string(std::string& out, const std::string& s) {
    put<std::uint64_t>(out, s.size());
    out += s;
  }

  void kv_u32(const std::string& key, std::uint32_t v) { scalar(key, 4, v); }
  void kv_i32(const std::string& key, std::int32_t v) { scalar(key, 5, v); }
  void kv_f32(const std::string& key, float v) { scalar(key, 6, v); }
  void kv_u64(const std::string& key, std::uint64_t v) { scalar(key, 10, v); }
  void kv_string(const std::string& key, const std::string& v) {
    head(key, 8);
    put_string(meta_, v);
  }
  void kv_strings(const std::string& key, const std::vector<std::string>& v) {
    head(key, 9);
    put<std::uint32_t>(meta_, 8);
    put<std::uint64_t>(meta_, v.size());
    for (const auto& s : v) put_string(meta_, s);
  }
  void kv_i32s(const std::string& key, const std::vector<std::int32_t>& v) {
    head(key, 9);
    put<std::uint32_t>(meta_, 5);
    put<std::uint64_t>(meta_, v.size());
    for (const auto x : v) put(meta_, x);
  }
  /// dims in the file's order (fastest first); data already in the type's encoding.
  void tensor(const std::string& name, const std::vector<std::uint64_t>& dims, std::uint32_t type,
              const std::string& data) {
    tensors_.push_back({name, dims, type, data, data.size()});
  }
  /// A tensor whose data is not written: finish() leaves room for `bytes` and writes zeros, and
  /// header() stops before the data (the caller sizes the file, e.g. sparse).
  void tensor_sized(const std::string& name, const std::vector<std::uint64_t>& dims, std::uint32_t type,
                    std::uint64_t bytes) {
    tensors_.push_back({name, dims, type, std::string(), bytes});
  }

  /// The bytes up to the data section, and in data_bytes the size the data section needs.
  std::string header(std::uint64_t* data_bytes, std::uint64_t alignment = 32) const {
    std::string out = finish_header(alignment, 3, data_bytes);
    return out;
  }

  std::string finish(std::uint64_t alignment = 32, std::uint32_t version = 3) const {
    std::uint64_t data_bytes = 0;
    std::string out = finish_header(alignment, version, &data_bytes);
    const auto data_start = out.size();
    std::uint64_t offset = 0;
    for (const auto& t : tensors_) {
      out.resize(data_start + offset, '\0');
      out += t.data;
      out.resize(data_start + offset + t.size, '\0');
      offset = (offset + t.size + alignment - 1) / alignment * alignment;
    }
    return out;
  }

 private:
  std::string finish_header(std::uint64_t alignment, std::uint32_t version, std::uint64_t* data_bytes) const {
    std::string out = "GGUF";
    put<std::uint32_t>(out, version);
    put<std::uint64_t>(out, tensors_.size());
    put<std::uint64_t>(out, keys_);
    out += meta_;
    std::uint64_t offset = 0;
    *data_bytes = 0;
    for (const auto& t : tensors_) {
      put_string(out, t.name);
      put<std::uint32_t>(out, static_cast<std::uint32_t>(t.dims.size()));
      for (const auto d : t.dims) put<std::uint64_t>(out, d);
      put<std::uint32_t>(out, t.type);
      put<std::uint64_t>(out, offset);
      *data_bytes = offset + t.size;
      offset = (offset + t.size + alignment - 1) / alignment * alignment;
    }
    out.resize((out.size() + alignment - 1) / alignment * alignment, '\0');
    return out;
  }

  struct Tensor {
    std::string name;
    std::vector<std::uint64_t> dims;
    std::uint32_t type;
    std::string data;
    std::uint64_t size;
  };
  void head(const std::string& key, std::uint32_t type) {
    put_string(meta_, key);
    put<std::uint32_t>(meta_, type);
    ++keys_;
  }
  template <typename T>
  void scalar(const std::string& key, std::uint32_t type, T v) {
    head(key, type);
    put(meta_, v);
  }

  std::string meta_;
  std::uint64_t keys_ = 0;
  std::vector<Tensor> tensors_;
};

/// IEEE half bits of a float that a half holds exactly (the tests use such values only).
inline std::uint16_t exact_half(float f) {
  std::uint32_t x;
  std::memcpy(&x, &f, 4);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  const int exponent = static_cast<int>((x >> 23) & 0xFF) - 127 + 15;
  if ((x & 0x7FFFFFFFu) == 0) return static_cast<std::uint16_t>(sign);
  return static_cast<std::uint16_t>(sign | (static_cast<std::uint32_t>(exponent) << 10) |
                                    ((x >> 13) & 0x3FFu));
}

}  // namespace optiscope::testing
