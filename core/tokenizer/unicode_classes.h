#pragma once
// The Unicode classes the Llama 3 pre-tokenizer regex is written in: \p{L}, \p{N} and \s.
namespace optiscope::tokenizer {

bool is_letter(char32_t cp);      // general category L*
bool is_number(char32_t cp);      // general category N*
bool is_whitespace(char32_t cp);  // White_Space, as Oniguruma's \s

}  // namespace optiscope::tokenizer
