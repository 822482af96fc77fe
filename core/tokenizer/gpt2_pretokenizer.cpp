#include "tokenizer/gpt2_pretokenizer.h"

#include "tokenizer/unicode_classes.h"
#include "tokenizer/utf8.h"

namespace optiscope::tokenizer {
namespace {

bool is_symbol(char32_t c) {
  return !is_whitespace(c) && !is_letter(c) && !is_number(c);
}

// The GPT-2 alternatives over code points [begin, end): the first that matches wins.
class Gpt2Matcher {
 public:
  Gpt2Matcher(const std::vector<char32_t>& cps, std::size_t end) : c_(cps), n_(end) {}

  std::size_t match_at(std::size_t i) const {
    if (const auto m = contraction(i)) return m;
    if (const auto m = optional_space_then(i, is_letter)) return m;
    if (const auto m = optional_space_then(i, is_number)) return m;
    if (const auto m = optional_space_then(i, is_symbol)) return m;
    if (const auto m = spaces_not_before_text(i)) return m;
    const std::size_t end = whitespace_end(i);
    return end > i ? end - i : 1;  // \s+ ; the 1 is unreachable for valid code points
  }

 private:
  bool at(std::size_t i, char32_t c) const { return i < n_ && c_[i] == c; }

  // 's|'t|'re|'ve|'m|'ll|'d, lower case only (no (?i) in GPT-2's pattern).
  std::size_t contraction(std::size_t i) const {
    if (c_[i] != U'\'') return 0;
    if (at(i + 1, U's') || at(i + 1, U't') || at(i + 1, U'm') || at(i + 1, U'd')) return 2;
    if ((at(i + 1, U'r') || at(i + 1, U'v')) && at(i + 2, U'e')) return 3;
    if (at(i + 1, U'l') && at(i + 2, U'l')) return 3;
    return 0;
  }

  //  ?X+
  std::size_t optional_space_then(std::size_t i, bool (*cls)(char32_t)) const {
    std::size_t j = i;
    if (c_[j] == U' ' && j + 1 < n_ && cls(c_[j + 1])) ++j;
    if (!cls(c_[j])) return 0;
    while (j < n_ && cls(c_[j])) ++j;
    return j - i;
  }

  std::size_t whitespace_end(std::size_t i) const {
    std::size_t j = i;
    while (j < n_ && is_whitespace(c_[j])) ++j;
    return j;
  }

  // \s+(?!\S) : the run, less its last space when text follows it.
  std::size_t spaces_not_before_text(std::size_t i) const {
    const std::size_t end = whitespace_end(i);
    if (end == i) return 0;
    if (end == n_) return end - i;
    return end - i > 1 ? end - i - 1 : 0;
  }

  const std::vector<char32_t>& c_;
  std::size_t n_;
};

// Applies the GPT-2 pattern to code points [begin, end) of the decoded text.
void split_gpt2(std::string_view text, const DecodedText& d, std::size_t begin, std::size_t end,
                std::vector<std::string_view>& pieces) {
  const Gpt2Matcher matcher(d.code_points, end);
  std::size_t i = begin;
  while (i < end) {
    const std::size_t len = matcher.match_at(i);
    pieces.push_back(text.substr(d.offsets[i], d.offsets[i + len] - d.offsets[i]));
    i += len;
  }
}

}  // namespace

std::vector<std::string_view> gpt2_pretokenize(std::string_view text) {
  const DecodedText d = decode_utf8(text);
  std::vector<std::string_view> pieces;
  split_gpt2(text, d, 0, d.code_points.size(), pieces);
  return pieces;
}

std::vector<std::string_view> smollm_pretokenize(std::string_view text) {
  const DecodedText d = decode_utf8(text);
  std::vector<std::string_view> pieces;
  std::size_t start = 0;
  const std::size_t n = d.code_points.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (!is_number(d.code_points[i])) continue;
    split_gpt2(text, d, start, i, pieces);
    pieces.push_back(text.substr(d.offsets[i], d.offsets[i + 1] - d.offsets[i]));
    start = i + 1;
  }
  split_gpt2(text, d, start, n, pieces);
  return pieces;
}

}  // namespace optiscope::tokenizer
