#pragma once
// GPT-2's byte-to-unicode table, which byte-level BPE vocabularies (Llama 3's among them) are
// written in: printable bytes stand for themselves, the others for code points from U+0100 on, so
// every byte sequence becomes a string of visible characters.
#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace optiscope::tokenizer {

class ByteLevelAlphabet {
 public:
  ByteLevelAlphabet();
  /// The visible character (as UTF-8) that stands for byte b.
  const std::string& encode(unsigned char b) const { return to_text_[b]; }
  /// Raw bytes → their visible form.
  std::string encode(std::string_view bytes) const;
  /// The byte a visible character stands for, or nothing for a character outside the table.
  std::optional<unsigned char> decode(char32_t cp) const;

 private:
  std::array<std::string, 256> to_text_;
  std::array<char32_t, 256> to_cp_{};
};

}  // namespace optiscope::tokenizer
