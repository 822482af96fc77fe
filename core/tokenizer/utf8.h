#pragma once
// UTF-8 decoding with exact error positions: text that is not UTF-8 must be refused with a message
// that says where, not silently turned into replacement characters or wrong tokens.
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace optiscope::tokenizer {

class Utf8Error : public std::runtime_error {
 public:
  Utf8Error(const std::string& what, std::size_t offset) : std::runtime_error(what), offset_(offset) {}
  /// Byte offset of the first byte that is not valid UTF-8.
  std::size_t offset() const { return offset_; }

 private:
  std::size_t offset_;
};

/// Offset of the first invalid byte (bad lead, bad continuation, truncated, overlong, surrogate or
/// above U+10FFFF), or nothing when the whole text is valid UTF-8.
std::optional<std::size_t> find_invalid_utf8(std::string_view text);

/// Throws Utf8Error naming `what` (e.g. a file and line) and the byte offset when text is not UTF-8.
void require_utf8(std::string_view text, const std::string& what);

/// Code points of valid UTF-8 text, each with the byte offset where it starts (one extra entry at
/// the end holds text.size()). Throws Utf8Error on invalid input.
struct DecodedText {
  std::vector<char32_t> code_points;
  std::vector<std::size_t> offsets;  // code_points.size() + 1 entries
};
DecodedText decode_utf8(std::string_view text);

void append_utf8(std::string& out, char32_t code_point);

}  // namespace optiscope::tokenizer
