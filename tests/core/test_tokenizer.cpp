#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/llama3_pretokenizer.h"
#include "tokenizer/unicode_classes.h"
#include "tokenizer/utf8.h"

using namespace optiscope::tokenizer;
using nlohmann::json;

namespace {

std::vector<std::string> pieces(std::string_view text) {
  std::vector<std::string> out;
  for (const auto p : llama3_pretokenize(text)) out.emplace_back(p);
  return out;
}

// A Llama 3 shaped tokenizer.json: the 256 byte-level characters, the given merges, and two
// special tokens after them.
json tokenizer_json(const std::vector<std::pair<std::string, std::string>>& merges,
                    bool ignore_merges = false) {
  const ByteLevelAlphabet alphabet;
  json vocab = json::object();
  std::int64_t next = 0;
  for (int b = 0; b < 256; ++b) vocab[alphabet.encode(static_cast<unsigned char>(b))] = next++;
  json merge_list = json::array();
  for (const auto& [a, b] : merges) {
    if (!vocab.contains(a + b)) vocab[a + b] = next++;
    merge_list.push_back(json::array({a, b}));
  }
  json j;
  j["version"] = "1.0";
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"},
         {"pattern", {{"Regex", kLlama3SplitPattern}}},
         {"behavior", "Isolated"},
         {"invert", false}},
        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}};
  j["model"] = {{"type", "BPE"},          {"vocab", vocab},
                {"merges", merge_list},   {"ignore_merges", ignore_merges},
                {"byte_fallback", false}, {"dropout", nullptr},
                {"unk_token", nullptr}};
  j["added_tokens"] = {{{"id", 1000}, {"content", "<|begin_of_text|>"}, {"special", true}},
                       {{"id", 1001}, {"content", "<|end_of_text|>"}, {"special", true}}};
  return j;
}

std::int64_t id_of(const BpeTokenizer& t, const std::string& bytes) {
  const ByteLevelAlphabet alphabet;
  return t.token_id(alphabet.encode(bytes)).value();
}

}  // namespace

TEST(Utf8, FindsTheFirstInvalidByte) {
  EXPECT_FALSE(find_invalid_utf8("plain, caf\xC3\xA9, \xE4\xBD\xA0, \xF0\x9F\x98\x80").has_value());
  EXPECT_EQ(find_invalid_utf8("ab\xFF"), 2u);
  EXPECT_EQ(find_invalid_utf8("ab\xC3"), 2u) << "truncated sequence";
  EXPECT_EQ(find_invalid_utf8("\xC0\xAF"), 0u) << "overlong";
  EXPECT_EQ(find_invalid_utf8("x\xED\xA0\x80"), 1u) << "surrogate";
  EXPECT_EQ(find_invalid_utf8("\xF4\x90\x80\x80"), 0u) << "past U+10FFFF";
  EXPECT_THROW(require_utf8("\x80", "line 3"), Utf8Error);
  try {
    require_utf8("ok\xFE", "notes.txt line 3");
  } catch (const Utf8Error& e) {
    EXPECT_EQ(e.offset(), 2u);
    EXPECT_NE(std::string(e.what()).find("notes.txt line 3"), std::string::npos);
  }
}

TEST(UnicodeClasses, LettersNumbersAndWhiteSpace) {
  EXPECT_TRUE(is_letter(U'a'));
  EXPECT_TRUE(is_letter(U'\u00E9'));
  EXPECT_TRUE(is_letter(U'\u4F60'));  // CJK
  EXPECT_FALSE(is_letter(U'1'));
  EXPECT_FALSE(is_letter(U'\U0001F600'));  // emoji are symbols
  EXPECT_TRUE(is_number(U'7'));
  EXPECT_TRUE(is_number(U'\u0663'));  // Arabic-Indic three
  EXPECT_TRUE(is_number(U'\u00BD'));  // vulgar fraction one half (No)
  EXPECT_TRUE(is_whitespace(U' '));
  EXPECT_TRUE(is_whitespace(U'\u3000'));
  EXPECT_FALSE(is_whitespace(U'\u200B'));  // zero width space is not White_Space
}

TEST(Llama3PreTokenizer, SplitsLikeTheRegex) {
  EXPECT_EQ(pieces("Hello world"), (std::vector<std::string>{"Hello", " world"}));
  EXPECT_EQ(pieces("I'm 12345"), (std::vector<std::string>{"I", "'m", " ", "123", "45"}));
  EXPECT_EQ(pieces("WE'LL go"), (std::vector<std::string>{"WE", "'LL", " go"}));
  EXPECT_EQ(pieces("a  b"), (std::vector<std::string>{"a", " ", " b"}));
  EXPECT_EQ(pieces("x\n\ny"), (std::vector<std::string>{"x", "\n\n", "y"}));
  EXPECT_EQ(pieces("end.  \n"), (std::vector<std::string>{"end", ".", "  \n"}));
  EXPECT_EQ(pieces("ok!!!\n\nnext"), (std::vector<std::string>{"ok", "!!!\n\n", "next"}));
  EXPECT_EQ(pieces("trailing   "), (std::vector<std::string>{"trailing", "   "}));
  EXPECT_EQ(pieces("\xE4\xBD\xA0\xE5\xA5\xBD"), (std::vector<std::string>{"\xE4\xBD\xA0\xE5\xA5\xBD"}));
  EXPECT_EQ(pieces("$x"), (std::vector<std::string>{"$x"}));
  EXPECT_TRUE(pieces("").empty());
  EXPECT_THROW(pieces("bad \xFF byte"), Utf8Error);
}

TEST(ByteLevel, PrintableBytesStandForThemselves) {
  const ByteLevelAlphabet a;
  EXPECT_EQ(a.encode(static_cast<unsigned char>('A')), "A");
  EXPECT_EQ(a.encode(static_cast<unsigned char>(' ')), "\xC4\xA0");   // U+0120, "Ġ"
  EXPECT_EQ(a.encode(static_cast<unsigned char>('\n')), "\xC4\x8A");  // U+010A, "Ċ"
  for (int b = 0; b < 256; ++b) {
    const auto text = a.encode(static_cast<unsigned char>(b));
    const auto cps = decode_utf8(text).code_points;
    ASSERT_EQ(cps.size(), 1u);
    EXPECT_EQ(a.decode(cps[0]), static_cast<unsigned char>(b));
  }
}

TEST(BpeTokenizer, MergesByRankAndRoundTrips) {
  const std::string sp = "\xC4\xA0";  // byte-level space
  const auto t =
      BpeTokenizer::from_json(tokenizer_json({{"l", "o"}, {"lo", "w"}, {sp, "lo"}, {"e", "r"}}).dump());
  const auto low = t.token_id("low").value();
  EXPECT_EQ(t.encode("low"), (std::vector<std::int64_t>{low}));
  // " lower": "lo" (rank 0), then "lo"+"w" (rank 1) wins over " "+"lo" (rank 2), then "er".
  EXPECT_EQ(t.encode(" lower"), (std::vector<std::int64_t>{id_of(t, " "), low, t.token_id("er").value()}));
  // " lo": no "w" to take "lo" away, so the space joins it.
  EXPECT_EQ(t.encode(" lo"), (std::vector<std::int64_t>{t.token_id(sp + "lo").value()}));
  const std::string text = "<|begin_of_text|>low lower, caf\xC3\xA9 \xF0\x9F\x98\x80 12345<|end_of_text|>";
  const auto ids = t.encode(text);
  EXPECT_EQ(ids.front(), 1000);
  EXPECT_EQ(ids.back(), 1001);
  EXPECT_EQ(t.decode(ids), text);
  EXPECT_EQ(t.vocab_size(), 1002);
}

TEST(BpeTokenizer, IgnoreMergesTakesWholeWordsFromTheVocabulary) {
  // "abc" is in the vocabulary, but the merges alone would give "ab" + "c".
  auto j = tokenizer_json({{"a", "b"}}, /*ignore_merges=*/true);
  j["model"]["vocab"]["abc"] = 900;
  const auto with = BpeTokenizer::from_json(j.dump());
  EXPECT_EQ(with.encode("abc"), (std::vector<std::int64_t>{900}));
  j["model"]["ignore_merges"] = false;
  const auto without = BpeTokenizer::from_json(j.dump());
  EXPECT_EQ(without.encode("abc"),
            (std::vector<std::int64_t>{without.token_id("ab").value(), id_of(without, "c")}));
}

TEST(BpeTokenizer, MergesAsSpaceSeparatedStringsToo) {
  auto j = tokenizer_json({{"a", "b"}});
  j["model"]["merges"] = json::array({"a b"});
  const auto t = BpeTokenizer::from_json(j.dump());
  EXPECT_EQ(t.encode("ab"), (std::vector<std::int64_t>{t.token_id("ab").value()}));
}

TEST(BpeTokenizer, RefusesWhatItDoesNotImplementWithReasons) {
  const auto message = [](const json& j) {
    try {
      BpeTokenizer::from_json(j.dump());
    } catch (const TokenizerError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_THROW(BpeTokenizer::from_json("{not json"), TokenizerError);
  EXPECT_THROW(BpeTokenizer::from_json("[]"), TokenizerError);
  auto j = tokenizer_json({});
  j["normalizer"] = {{"type", "NFC"}};
  EXPECT_NE(message(j).find("normalizer"), std::string::npos);
  j = tokenizer_json({});
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\s+";
  EXPECT_NE(message(j).find("pattern"), std::string::npos);
  j = tokenizer_json({});
  j["model"]["merges"] = json::array({json::array({"q", "zz"})});
  EXPECT_NE(message(j).find("not in the vocabulary"), std::string::npos);
  j = tokenizer_json({});
  j["model"]["type"] = "WordPiece";
  EXPECT_NE(message(j).find("BPE"), std::string::npos);
  j = tokenizer_json({});
  j["model"].erase("vocab");
  EXPECT_NE(message(j).find("vocab"), std::string::npos);
  j = tokenizer_json({});
  j["added_tokens"][0]["id"] = 1ll << 40;
  EXPECT_NE(message(j).find("out of range"), std::string::npos);
}

TEST(BpeTokenizer, RefusesTextThatIsNotUtf8) {
  const auto t = BpeTokenizer::from_json(tokenizer_json({}).dump());
  EXPECT_THROW(t.encode("abc\xC3("), Utf8Error);
}
