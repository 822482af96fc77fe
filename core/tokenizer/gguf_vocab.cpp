#include "tokenizer/gguf_vocab.h"

#include <unordered_map>

#include "tokenizer/utf8.h"

namespace optiscope::tokenizer {
namespace {

[[noreturn]] void fail(const std::string& what) {
  throw TokenizerError("GGUF tokenizer: " + what);
}

constexpr std::int64_t kControl = 3;
constexpr std::int64_t kUserDefined = 4;

}  // namespace

PreTokenizer gguf_pre_tokenizer(const std::string& pre) {
  // llama.cpp's names (llama-vocab.cpp): "smollm" shares the GPT-2 pattern with digits split one
  // by one; Llama 3's files say "llama-bpe" (older ones "llama3" or "llama-v3").
  if (pre == "smollm") return PreTokenizer::smollm;
  if (pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3") return PreTokenizer::llama3;
  fail("pre-tokenizer '" + pre + "' is not supported (smollm and llama-bpe are)");
}

BpeTokenizer bpe_from_gguf_vocab(const GgufVocab& v) {
  if (v.model != "gpt2")
    fail("tokenizer model '" + v.model + "' is not supported (only byte-level BPE, 'gpt2', is)");
  const PreTokenizer pre = gguf_pre_tokenizer(v.pre);
  if (v.tokens.empty()) fail("the vocabulary is empty");
  if (static_cast<std::int64_t>(v.tokens.size()) > kMaxTokenId)
    fail("the vocabulary has " + std::to_string(v.tokens.size()) + " tokens, too many");
  if (!v.token_types.empty() && v.token_types.size() != v.tokens.size())
    fail("tokenizer.ggml.token_type has " + std::to_string(v.token_types.size()) + " entries for " +
         std::to_string(v.tokens.size()) + " tokens");
  std::unordered_map<std::string, std::int64_t> vocab;
  vocab.reserve(v.tokens.size());
  std::vector<AddedToken> added;
  for (std::size_t id = 0; id < v.tokens.size(); ++id) {
    const auto& token = v.tokens[id];
    try {
      require_utf8(token, "token " + std::to_string(id));
    } catch (const Utf8Error& e) {
      fail(e.what());
    }
    vocab.emplace(token, static_cast<std::int64_t>(id));
    const auto type = v.token_types.empty() ? 1 : v.token_types[id];
    if ((type == kControl || type == kUserDefined) && !token.empty())
      added.push_back({static_cast<std::int64_t>(id), token, type == kControl, false, false});
  }
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(v.merges.size());
  for (std::size_t i = 0; i < v.merges.size(); ++i) {
    const auto& m = v.merges[i];
    const auto space = m.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 == m.size() ||
        m.find(' ', space + 1) != std::string::npos)
      fail("merge " + std::to_string(i) + " ('" + m + "') is not two parts separated by one space");
    merges.emplace_back(m.substr(0, space), m.substr(space + 1));
  }
  return BpeTokenizer(BpeModel(std::move(vocab), merges, /*ignore_merges=*/false),
                      AddedTokenSplitter(std::move(added)), pre);
}

}  // namespace optiscope::tokenizer
