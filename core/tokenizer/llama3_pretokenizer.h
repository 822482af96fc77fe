#pragma once
// Llama 3's pre-tokenizer: the text is cut where its tokenizer.json "Split" regex matches,
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*
//   |\s*[\r\n]+|\s+(?!\S)|\s+
// written out by hand (first alternative that matches wins, as in the backtracking engine
// `tokenizers` uses), so no regex library with Unicode classes is needed.
#include <string>
#include <string_view>
#include <vector>

namespace optiscope::tokenizer {

/// The pattern string as it appears in Llama 3's tokenizer.json; other patterns are refused.
extern const char* const kLlama3SplitPattern;

/// Pieces of valid UTF-8 text, in order, covering it exactly. Throws Utf8Error otherwise.
std::vector<std::string_view> llama3_pretokenize(std::string_view text);

}  // namespace optiscope::tokenizer
