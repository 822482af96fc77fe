#include "tokenizer/llama3_pretokenizer.h"

#include "tokenizer/unicode_classes.h"
#include "tokenizer/utf8.h"

namespace optiscope::tokenizer {

const char* const kLlama3SplitPattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

namespace {

bool is_newline(char32_t c) {
  return c == U'\r' || c == U'\n';
}

// Case-insensitive ASCII letter match; U+017F (long s) also folds to 's' under Unicode simple case
// folding, which the (?i) group applies.
bool folds_to(char32_t c, char lower) {
  if (c == static_cast<char32_t>(lower) || c == static_cast<char32_t>(lower - 'a' + 'A')) return true;
  return lower == 's' && c == 0x17F;
}

class Matcher {
 public:
  explicit Matcher(const std::vector<char32_t>& cps) : c_(cps), n_(cps.size()) {}

  // Length in code points of the match starting at i (always at least 1: every code point is a
  // letter, a number, white space, or matched by the punctuation alternative).
  std::size_t match_at(std::size_t i) const {
    if (const auto m = contraction(i)) return m;
    if (const auto m = letters(i)) return m;
    if (const auto m = numbers(i)) return m;
    if (const auto m = punctuation(i)) return m;
    if (const auto m = space_then_newlines(i)) return m;
    if (const auto m = spaces_not_before_text(i)) return m;
    if (const auto m = spaces(i)) return m;
    return 1;  // unreachable for valid code points; keeps progress guaranteed
  }

 private:
  bool at(std::size_t i, char lower) const { return i < n_ && folds_to(c_[i], lower); }

  // (?i:'s|'t|'re|'ve|'m|'ll|'d)
  std::size_t contraction(std::size_t i) const {
    if (c_[i] != U'\'') return 0;
    if (at(i + 1, 's') || at(i + 1, 't') || at(i + 1, 'm') || at(i + 1, 'd')) return 2;
    if ((at(i + 1, 'r') || at(i + 1, 'v')) && at(i + 2, 'e')) return 3;
    if (at(i + 1, 'l') && at(i + 2, 'l')) return 3;
    return 0;
  }

  std::size_t letter_run(std::size_t i) const {
    std::size_t j = i;
    while (j < n_ && is_letter(c_[j])) ++j;
    return j - i;
  }

  // [^\r\n\p{L}\p{N}]?\p{L}+
  std::size_t letters(std::size_t i) const {
    const char32_t c = c_[i];
    if (!is_newline(c) && !is_letter(c) && !is_number(c)) {
      const std::size_t run = i + 1 < n_ ? letter_run(i + 1) : 0;
      return run > 0 ? run + 1 : 0;
    }
    return letter_run(i);  // zero unless c is a letter
  }

  // \p{N}{1,3}
  std::size_t numbers(std::size_t i) const {
    std::size_t j = i;
    while (j < n_ && j - i < 3 && is_number(c_[j])) ++j;
    return j - i;
  }

  static bool is_symbol(char32_t c) { return !is_whitespace(c) && !is_letter(c) && !is_number(c); }

  //  ?[^\s\p{L}\p{N}]+[\r\n]*
  std::size_t punctuation(std::size_t i) const {
    std::size_t j = i;
    if (c_[j] == U' ' && j + 1 < n_ && is_symbol(c_[j + 1])) ++j;
    if (!is_symbol(c_[j])) return 0;
    while (j < n_ && is_symbol(c_[j])) ++j;
    while (j < n_ && is_newline(c_[j])) ++j;
    return j - i;
  }

  std::size_t whitespace_end(std::size_t i) const {
    std::size_t j = i;
    while (j < n_ && is_whitespace(c_[j])) ++j;
    return j;
  }

  // \s*[\r\n]+ : greedy white space backs off to the last newline of the run.
  std::size_t space_then_newlines(std::size_t i) const {
    const std::size_t end = whitespace_end(i);
    for (std::size_t k = end; k > i; --k) {
      if (is_newline(c_[k - 1])) return k - i;
    }
    return 0;
  }

  // \s+(?!\S) : the run, less its last space when text follows it.
  std::size_t spaces_not_before_text(std::size_t i) const {
    const std::size_t end = whitespace_end(i);
    if (end == i) return 0;
    if (end == n_) return end - i;
    return end - i > 1 ? end - i - 1 : 0;
  }

  // \s+
  std::size_t spaces(std::size_t i) const { return whitespace_end(i) - i; }

  const std::vector<char32_t>& c_;
  std::size_t n_;
};

}  // namespace

std::vector<std::string_view> llama3_pretokenize(std::string_view text) {
  const DecodedText decoded = decode_utf8(text);
  const Matcher matcher(decoded.code_points);
  std::vector<std::string_view> pieces;
  std::size_t i = 0;
  const std::size_t n = decoded.code_points.size();
  while (i < n) {
    const std::size_t len = matcher.match_at(i);
    const std::size_t begin = decoded.offsets[i];
    const std::size_t end = decoded.offsets[i + len];
    pieces.push_back(text.substr(begin, end - begin));
    i += len;
  }
  return pieces;
}

}  // namespace optiscope::tokenizer
