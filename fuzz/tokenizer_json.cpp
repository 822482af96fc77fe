// Fuzz target: a Hugging Face tokenizer.json (shipped with a checkpoint from someone else), and
// text through a valid tokenizer. The first input byte picks the mode:
//   even: the rest is a tokenizer.json; it is refused with TokenizerError, or encodes and decodes
//         a fixed sentence;
//   odd:  the rest is text for a small valid byte-level tokenizer with Llama 3's pre-tokenizer;
//         UTF-8 text must round-trip exactly, other text must be refused with Utf8Error.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/llama3_pretokenizer.h"
#include "tokenizer/utf8.h"

using optiscope::fuzz::finding;
using optiscope::fuzz::is_utf8;
namespace tk = optiscope::tokenizer;

namespace {

// Every byte as a token (ids 0-255), a few merges, and two added tokens: enough to reach the
// merge loop, the added-token splitter and the pre-tokenizer with any text.
const tk::BpeTokenizer& small_tokenizer() {
  static const tk::BpeTokenizer tokenizer = [] {
    const tk::ByteLevelAlphabet alphabet;
    nlohmann::json vocab = nlohmann::json::object();
    for (int b = 0; b < 256; ++b) vocab[alphabet.encode(static_cast<unsigned char>(b))] = b;
    nlohmann::json merges = nlohmann::json::array();
    std::int64_t next = 256;
    for (const char* pair : {"t h", "h e", "i n", "Ġ t", "Ġt he", "e r", "o n", "a n"}) {
      const std::string p(pair);
      const auto space = p.find(' ');
      merges.push_back(p);
      vocab[p.substr(0, space) + p.substr(space + 1)] = next++;
    }
    const nlohmann::json j = {
        {"normalizer", nullptr},
        {"pre_tokenizer",
         {{"type", "Sequence"},
          {"pretokenizers",
           {{{"type", "Split"},
             {"pattern", {{"Regex", tk::kLlama3SplitPattern}}},
             {"behavior", "Isolated"},
             {"invert", false}},
            {{"type", "ByteLevel"},
             {"add_prefix_space", false},
             {"trim_offsets", true},
             {"use_regex", false}}}}}},
        {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}, {"ignore_merges", true}}},
        {"added_tokens",
         {{{"id", next}, {"content", "<|begin_of_text|>"}, {"special", true}},
          {{"id", next + 1}, {"content", "<|eot_id|>"}, {"special", true}}}}};
    return tk::BpeTokenizer::from_json(j.dump());
  }();
  return tokenizer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    try {
      const auto t = tk::BpeTokenizer::from_json(rest);
      const auto ids = t.encode("Hello world, héllo wörld 123 <|eot_id|>\n\n  x");
      for (const auto id : ids)
        if (id < 0 || id >= t.vocab_size()) finding("an id outside the vocabulary");
      (void)t.decode(ids);
    } catch (const tk::TokenizerError&) {
    } catch (const tk::Utf8Error&) {
    }
    return 0;
  }
  const auto& t = small_tokenizer();
  try {
    const auto ids = t.encode(rest);
    if (!is_utf8(rest)) finding("text that is not UTF-8 was encoded");
    for (const auto id : ids)
      if (id < 0 || id >= t.vocab_size()) finding("an id outside the vocabulary");
    if (t.decode(ids) != rest) finding("decode(encode(text)) differs from text");
  } catch (const tk::Utf8Error&) {
    if (is_utf8(rest)) finding("UTF-8 text was refused as not UTF-8");
  }
  return 0;
}
