// The tokenizer a GGUF file describes: SmolLM's pre-tokenizer (digits one by one, then GPT-2's
// pattern) and a byte-level BPE built from tokenizer.ggml.* parts.
#include <gtest/gtest.h>

#include "tokenizer/byte_level.h"
#include "tokenizer/gguf_vocab.h"
#include "tokenizer/gpt2_pretokenizer.h"
#include "tokenizer/utf8.h"

using namespace optiscope::tokenizer;

namespace {

std::vector<std::string> pieces(const std::vector<std::string_view>& v) {
  return {v.begin(), v.end()};
}

// The 256 byte-level characters, then the extra tokens given.
GgufVocab byte_vocab(const std::vector<std::string>& extra, const std::vector<std::string>& merges) {
  GgufVocab v;
  v.model = "gpt2";
  v.pre = "smollm";
  const ByteLevelAlphabet alphabet;
  v.tokens.push_back("<|endoftext|>");
  v.token_types.push_back(3);
  for (int b = 0; b < 256; ++b) {
    v.tokens.push_back(alphabet.encode(static_cast<unsigned char>(b)));
    v.token_types.push_back(1);
  }
  for (const auto& t : extra) {
    v.tokens.push_back(t);
    v.token_types.push_back(1);
  }
  v.merges = merges;
  return v;
}

}  // namespace

TEST(Gpt2PreTokenizer, SplitsLikeTheRegex) {
  EXPECT_EQ(pieces(gpt2_pretokenize("Hello world")), (std::vector<std::string>{"Hello", " world"}));
  EXPECT_EQ(pieces(gpt2_pretokenize("it's  two   spaces\n")),
            (std::vector<std::string>{"it", "'s", " ", " two", "  ", " spaces", "\n"}));
  // Case-sensitive contractions, unlike Llama 3's (?i:...).
  EXPECT_EQ(pieces(gpt2_pretokenize("Don'T")), (std::vector<std::string>{"Don", "'", "T"}));
  EXPECT_EQ(pieces(gpt2_pretokenize("x!! 2024")), (std::vector<std::string>{"x", "!!", " 2024"}));
  EXPECT_EQ(pieces(gpt2_pretokenize("\t-- Mark Twain")),
            (std::vector<std::string>{"\t", "--", " Mark", " Twain"}));
}

TEST(SmollmPreTokenizer, CutsEveryDigitOutFirst) {
  EXPECT_EQ(pieces(smollm_pretokenize("I'm 123 ok")),
            (std::vector<std::string>{"I", "'m", " ", "1", "2", "3", " ok"}));
  EXPECT_EQ(pieces(smollm_pretokenize("x!! 2024")),
            (std::vector<std::string>{"x", "!!", " ", "2", "0", "2", "4"}));
  // Other Unicode numbers (\p{N}) are digits too: one piece each.
  EXPECT_EQ(pieces(smollm_pretokenize("a\xc2\xbd\xc2\xbd")),
            (std::vector<std::string>{"a", "\xc2\xbd", "\xc2\xbd"}));
  EXPECT_TRUE(smollm_pretokenize("").empty());
  EXPECT_THROW(smollm_pretokenize("\xff"), Utf8Error);
}

TEST(GgufVocabTokenizer, MergesSpecialTokensAndDigits) {
  // "Ġ" is the byte-level form of a space.
  const auto t = bpe_from_gguf_vocab(byte_vocab({"he", "hel", "12"}, {"h e", "he l", "1 2"}));
  const auto id = [&](const std::string& s) { return *t.token_id(s); };
  EXPECT_EQ(t.encode("hel hel"), (std::vector<std::int64_t>{id("hel"), id("\xc4\xa0"), id("hel")}));
  EXPECT_EQ(t.encode("<|endoftext|>he"), (std::vector<std::int64_t>{0, id("he")}));
  // The merge "1 2" exists, but SmolLM never lets two digits meet.
  EXPECT_EQ(t.encode("12"), (std::vector<std::int64_t>{id("1"), id("2")}));
  EXPECT_EQ(t.decode(t.encode("hel 12 <|endoftext|>")), "hel 12 <|endoftext|>");
  EXPECT_EQ(t.vocab_size(), 1 + 256 + 3);
}

TEST(GgufVocabTokenizer, RefusesWhatItCannotImplement) {
  auto sentencepiece = byte_vocab({}, {});
  sentencepiece.model = "llama";
  EXPECT_THROW(bpe_from_gguf_vocab(sentencepiece), TokenizerError);
  auto qwen = byte_vocab({}, {});
  qwen.pre = "qwen2";
  EXPECT_THROW(bpe_from_gguf_vocab(qwen), TokenizerError);
  EXPECT_EQ(gguf_pre_tokenizer("llama-bpe"), PreTokenizer::llama3);
  EXPECT_THROW(bpe_from_gguf_vocab(byte_vocab({}, {"h  e"})), TokenizerError);
  EXPECT_THROW(bpe_from_gguf_vocab(byte_vocab({}, {"h zz"})), TokenizerError);  // "zz" is no token
  auto types = byte_vocab({}, {});
  types.token_types.pop_back();
  EXPECT_THROW(bpe_from_gguf_vocab(types), TokenizerError);
}
