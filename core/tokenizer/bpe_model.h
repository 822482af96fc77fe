#pragma once
// The BPE model of a tokenizer.json: a vocabulary of byte-level strings and ranked merges. A word
// (one pre-tokenized piece, already in byte-level form) starts as single characters and the
// adjacent pair with the best (lowest) rank is merged, leftmost first, until none is left.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace optiscope::tokenizer {

/// Ids above this are refused: real vocabularies are far smaller, and a table is sized by them.
inline constexpr std::int64_t kMaxTokenId = std::int64_t{1} << 24;

class BpeModel {
 public:
  /// merges: pairs of vocabulary strings, best rank first. Throws TokenizerError when a merge
  /// names a string missing from the vocabulary.
  BpeModel(std::unordered_map<std::string, std::int64_t> vocab,
           const std::vector<std::pair<std::string, std::string>>& merges, bool ignore_merges);

  /// Token ids of one word in byte-level form.
  void encode_word(std::string_view word, std::vector<std::int64_t>& out) const;
  const std::unordered_map<std::string, std::int64_t>& vocab() const { return vocab_; }

 private:
  struct Merge {
    std::size_t rank;
    std::int64_t merged;
  };
  static std::uint64_t key(std::int64_t a, std::int64_t b) {
    return (static_cast<std::uint64_t>(a) << 32) | static_cast<std::uint32_t>(b);
  }

  std::unordered_map<std::string, std::int64_t> vocab_;
  std::unordered_map<std::uint64_t, Merge> merges_;
  bool ignore_merges_;
};

}  // namespace optiscope::tokenizer
