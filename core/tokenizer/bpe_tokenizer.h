#pragma once
// A byte-level BPE tokenizer read from a Hugging Face tokenizer.json, as Llama 3 ships it: added
// tokens cut out first, Llama 3's regex split, the byte-to-unicode alphabet, then ranked merges.
// Ids are those `tokenizers` gives with add_special_tokens=False; begin/end tokens are added by
// the caller (the dataset packer).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer_error.h"

namespace optiscope::tokenizer {

/// How text is cut into words before the merges: Llama 3's regex, or SmolLM's digits + GPT-2.
enum class PreTokenizer { llama3, smollm };

class BpeTokenizer {
 public:
  /// From parts already read (a GGUF's tokenizer.ggml.* metadata). Throws TokenizerError when a
  /// merge names a string missing from the vocabulary or an id is out of range.
  BpeTokenizer(BpeModel model, AddedTokenSplitter added, PreTokenizer pre);

  /// Parses tokenizer.json bytes. Throws TokenizerError for malformed JSON, a missing part, or a
  /// pipeline this class does not implement (normalizers, other pre-tokenizers, other models).
  static BpeTokenizer from_json(std::string_view json_bytes);

  /// Throws Utf8Error when text is not UTF-8.
  std::vector<std::int64_t> encode(std::string_view text) const;
  std::string decode(const std::vector<std::int64_t>& ids) const;
  std::optional<std::int64_t> token_id(std::string_view token) const;
  /// One past the largest id of the vocabulary and the added tokens.
  std::int64_t vocab_size() const { return vocab_size_; }

 private:
  BpeModel model_;
  AddedTokenSplitter added_;
  ByteLevelAlphabet alphabet_;
  std::vector<std::string> id_to_token_;  // byte-level strings and added contents
  std::vector<bool> is_added_;
  PreTokenizer pre_ = PreTokenizer::llama3;
  std::int64_t vocab_size_ = 0;
};

}  // namespace optiscope::tokenizer
