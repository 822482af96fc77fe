#pragma once
// The tokenizer a GGUF file describes in its tokenizer.ggml.* metadata, built into the same BPE
// tokenizer tokenizer.json files give: a byte-level ("gpt2") vocabulary, ranked merges written
// "a b", token types (3 = control and 4 = user-defined tokens are cut out of the text whole, as
// llama.cpp and transformers do), and the pre-tokenizer named by tokenizer.ggml.pre.
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/bpe_tokenizer.h"

namespace optiscope::tokenizer {

struct GgufVocab {
  std::string model;  // tokenizer.ggml.model
  std::string pre;    // tokenizer.ggml.pre
  std::vector<std::string> tokens;
  std::vector<std::int64_t> token_types;  // empty, or one per token
  std::vector<std::string> merges;
};

/// The pre-tokenizer a tokenizer.ggml.pre name stands for; TokenizerError for names this
/// tokenizer does not implement.
PreTokenizer gguf_pre_tokenizer(const std::string& pre);

/// Throws TokenizerError for another tokenizer model (sentencepiece "llama", "t5", ...), an
/// unknown pre-tokenizer, mismatched token types or malformed merges.
BpeTokenizer bpe_from_gguf_vocab(const GgufVocab& vocab);

}  // namespace optiscope::tokenizer
