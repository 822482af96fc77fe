#pragma once
// Byte-level tokens: one id per UTF-8 byte, plus begin/end/pad. Enough for the tiny presets and for
// any text, with no vocabulary file to ship.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace optiscope {

class ByteTokenizer {
 public:
  static constexpr std::int64_t kBos = 256;
  static constexpr std::int64_t kEos = 257;
  static constexpr std::int64_t kPad = 258;
  static constexpr std::int64_t kVocabSize = 259;

  std::vector<std::int64_t> encode(std::string_view text) const;
  std::string decode(const std::vector<std::int64_t>& ids) const;
};

}  // namespace optiscope
