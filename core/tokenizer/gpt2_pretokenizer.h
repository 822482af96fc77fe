#pragma once
// GPT-2's pre-tokenizer, as the ByteLevel pre-tokenizer of `tokenizers` applies it (use_regex):
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// and SmolLM's variant (GGUF tokenizer.ggml.pre "smollm"; SmolLM2's tokenizer.json), which first
// cuts every digit into a piece of its own (Digits(individual_digits=true)) and then applies the
// GPT-2 pattern to the text between the digits. llama.cpp's "smollm" regex list says the same:
// "\p{N}" first, then the GPT-2 pattern. Written out by hand like the Llama 3 one.
#include <string_view>
#include <vector>

namespace optiscope::tokenizer {

/// Pieces of valid UTF-8 text, in order, covering it exactly. Throws Utf8Error otherwise.
std::vector<std::string_view> gpt2_pretokenize(std::string_view text);
std::vector<std::string_view> smollm_pretokenize(std::string_view text);

}  // namespace optiscope::tokenizer
