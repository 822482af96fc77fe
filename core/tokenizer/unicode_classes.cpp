#include "tokenizer/unicode_classes.h"

#include <algorithm>
#include <iterator>

namespace optiscope::tokenizer {
namespace {

struct CodeRange {
  char32_t first;
  char32_t last;
};

#include "tokenizer/unicode_tables.inc"

template <std::size_t N>
bool in_ranges(const CodeRange (&ranges)[N], char32_t cp) {
  // First range whose end is not below cp; sorted and disjoint by construction.
  const auto it = std::lower_bound(std::begin(ranges), std::end(ranges), cp,
                                   [](const CodeRange& r, char32_t v) { return r.last < v; });
  return it != std::end(ranges) && it->first <= cp;
}

}  // namespace

bool is_letter(char32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  return in_ranges(kLetterRanges, cp);
}

bool is_number(char32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return in_ranges(kNumberRanges, cp);
}

bool is_whitespace(char32_t cp) {
  return in_ranges(kWhiteSpaceRanges, cp);
}

}  // namespace optiscope::tokenizer
