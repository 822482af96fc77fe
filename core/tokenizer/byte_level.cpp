#include "tokenizer/byte_level.h"

#include "tokenizer/utf8.h"

namespace optiscope::tokenizer {

ByteLevelAlphabet::ByteLevelAlphabet() {
  const auto visible = [](int b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  };
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    to_cp_[static_cast<std::size_t>(b)] = visible(b) ? static_cast<char32_t>(b) : next++;
    append_utf8(to_text_[static_cast<std::size_t>(b)], to_cp_[static_cast<std::size_t>(b)]);
  }
}

std::string ByteLevelAlphabet::encode(std::string_view bytes) const {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) out += to_text_[static_cast<unsigned char>(c)];
  return out;
}

std::optional<unsigned char> ByteLevelAlphabet::decode(char32_t cp) const {
  if (cp < 256 && to_cp_[cp] == cp) return static_cast<unsigned char>(cp);
  if (cp >= 256 && cp < 256 + 68) {
    for (std::size_t b = 0; b < 256; ++b) {
      if (to_cp_[b] == cp) return static_cast<unsigned char>(b);
    }
  }
  return std::nullopt;
}

}  // namespace optiscope::tokenizer
