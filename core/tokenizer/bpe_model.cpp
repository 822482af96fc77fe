#include "tokenizer/bpe_model.h"

#include "tokenizer/tokenizer_error.h"
#include "tokenizer/utf8.h"

namespace optiscope::tokenizer {

BpeModel::BpeModel(std::unordered_map<std::string, std::int64_t> vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges, bool ignore_merges)
    : vocab_(std::move(vocab)), ignore_merges_(ignore_merges) {
  for (const auto& [token, id] : vocab_) {
    if (id < 0 || id >= kMaxTokenId)
      throw TokenizerError("tokenizer.json: vocabulary id " + std::to_string(id) + " of '" + token +
                           "' is out of range");
  }
  merges_.reserve(merges.size());
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    const auto ia = vocab_.find(a);
    const auto ib = vocab_.find(b);
    const auto im = vocab_.find(a + b);
    if (ia == vocab_.end() || ib == vocab_.end() || im == vocab_.end())
      throw TokenizerError("tokenizer.json: merge " + std::to_string(rank) + " ('" + a + "' '" + b +
                           "') uses a string that is not in the vocabulary");
    // A pair listed twice keeps its first (best) rank, as `tokenizers` does.
    merges_.try_emplace(key(ia->second, ib->second), Merge{rank, im->second});
  }
}

void BpeModel::encode_word(std::string_view word, std::vector<std::int64_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    // Llama 3 sets ignore_merges: a word that is itself in the vocabulary is one token.
    if (const auto it = vocab_.find(std::string(word)); it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const DecodedText chars = decode_utf8(word);
  std::vector<std::int64_t> symbols;
  symbols.reserve(chars.code_points.size());
  for (std::size_t i = 0; i < chars.code_points.size(); ++i) {
    const auto piece = word.substr(chars.offsets[i], chars.offsets[i + 1] - chars.offsets[i]);
    const auto it = vocab_.find(std::string(piece));
    if (it == vocab_.end())
      throw TokenizerError("tokenizer: character '" + std::string(piece) +
                           "' is not in the vocabulary (no unk token)");
    symbols.push_back(it->second);
  }
  // Words are short (a pre-tokenized piece), so a scan per merge is cheaper than a heap.
  while (symbols.size() > 1) {
    std::size_t best_pos = 0;
    const Merge* best = nullptr;
    for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
      const auto it = merges_.find(key(symbols[i], symbols[i + 1]));
      if (it != merges_.end() && (best == nullptr || it->second.rank < best->rank)) {
        best = &it->second;
        best_pos = i;
      }
    }
    if (best == nullptr) break;
    symbols[best_pos] = best->merged;
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best_pos) + 1);
  }
  out.insert(out.end(), symbols.begin(), symbols.end());
}

}  // namespace optiscope::tokenizer
