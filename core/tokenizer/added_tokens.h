#pragma once
// Added (mostly special) tokens of a tokenizer.json: they are cut out of the text before
// pre-tokenization, leftmost-longest, and stand for themselves whatever the BPE model would do.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace optiscope::tokenizer {

struct AddedToken {
  std::int64_t id = 0;
  std::string content;
  bool special = false;
  bool lstrip = false;  // swallows white space on its left
  bool rstrip = false;  // swallows white space on its right
};

/// A piece of the text: either plain text to tokenize or one added token.
struct TextSegment {
  std::string_view text;
  const AddedToken* token = nullptr;
};

class AddedTokenSplitter {
 public:
  explicit AddedTokenSplitter(std::vector<AddedToken> tokens);
  std::vector<TextSegment> split(std::string_view text) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  std::vector<AddedToken> tokens_;
  std::vector<std::vector<std::size_t>> by_first_byte_;  // indices, longest content first
};

}  // namespace optiscope::tokenizer
