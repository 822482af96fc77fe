#include "tokenizer/bpe_tokenizer.h"

#include <nlohmann/json.hpp>

#include "tokenizer/gpt2_pretokenizer.h"
#include "tokenizer/llama3_pretokenizer.h"
#include "tokenizer/utf8.h"

namespace optiscope::tokenizer {
namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& what) {
  throw TokenizerError("tokenizer.json: " + what);
}

// `where` is a view: with a const std::string& every literal argument became a temporary, and
// GCC 13 warns that the returned reference might bind to it (-Wdangling-reference, an error in
// the presets that set OPTISCOPE_WERROR).
const json& member(const json& j, const char* key, std::string_view where) {
  const auto it = j.find(key);
  if (it == j.end()) fail(std::string(where) + " has no '" + key + "'");
  return *it;
}

bool flag(const json& j, const char* key, bool fallback) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) fail(std::string("'") + key + "' must be true or false");
  return it->get<bool>();
}

// Llama 3: Sequence[Split(llama3 regex, Isolated), ByteLevel(add_prefix_space=false, use_regex=false)].
void check_pre_tokenizer(const json& pre) {
  const std::string expected =
      "a Sequence of Split (Llama 3 pattern, Isolated) and ByteLevel (use_regex false)";
  if (!pre.is_object() || pre.value("type", "") != "Sequence") fail("pre_tokenizer must be " + expected);
  const json& list = member(pre, "pretokenizers", "pre_tokenizer");
  if (!list.is_array() || list.size() != 2) fail("pre_tokenizer must be " + expected);
  const json& split = list[0];
  const json& bytes = list[1];
  if (!split.is_object() || split.value("type", "") != "Split") fail("pre_tokenizer must be " + expected);
  const json& pattern = member(split, "pattern", "Split");
  if (!pattern.is_object() || !pattern.contains("Regex") || !pattern["Regex"].is_string() ||
      pattern["Regex"].get<std::string>() != kLlama3SplitPattern)
    fail("the Split pattern is not Llama 3's (other regexes are not supported)");
  if (split.value("behavior", "") != "Isolated" || flag(split, "invert", false))
    fail("the Split must have behavior Isolated and invert false");
  if (!bytes.is_object() || bytes.value("type", "") != "ByteLevel") fail("pre_tokenizer must be " + expected);
  if (flag(bytes, "add_prefix_space", false) || flag(bytes, "use_regex", true))
    fail("the ByteLevel pre-tokenizer must have add_prefix_space false and use_regex false");
}

std::vector<std::pair<std::string, std::string>> read_merges(const json& merges) {
  if (!merges.is_array()) fail("model.merges must be an array");
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(merges.size());
  for (std::size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    if (m.is_string()) {
      // Older files: "a b" with a single space between the two parts.
      const auto text = m.get<std::string>();
      const auto space = text.find(' ');
      if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos)
        fail("merge " + std::to_string(i) + " ('" + text + "') is not two parts separated by one space");
      out.emplace_back(text.substr(0, space), text.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      out.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      fail("merge " + std::to_string(i) + " is neither \"a b\" nor [\"a\", \"b\"]");
    }
  }
  return out;
}

std::vector<AddedToken> read_added(const json& j) {
  std::vector<AddedToken> out;
  const auto it = j.find("added_tokens");
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_array()) fail("added_tokens must be an array");
  for (const json& t : *it) {
    if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() || !t.contains("content") ||
        !t["content"].is_string())
      fail("every added token needs an integer 'id' and a string 'content'");
    AddedToken a;
    a.id = t["id"].get<std::int64_t>();
    a.content = t["content"].get<std::string>();
    if (a.id < 0 || a.id >= kMaxTokenId || a.content.empty())
      fail("added token '" + a.content + "' has an id out of range or no content");
    require_utf8(a.content, "added token " + std::to_string(a.id));
    a.special = flag(t, "special", false);
    a.lstrip = flag(t, "lstrip", false);
    a.rstrip = flag(t, "rstrip", false);
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace

BpeTokenizer::BpeTokenizer(BpeModel model, AddedTokenSplitter added, PreTokenizer pre)
    : model_(std::move(model)), added_(std::move(added)), pre_(pre) {
  for (const auto& [token, id] : model_.vocab()) vocab_size_ = std::max(vocab_size_, id + 1);
  for (const auto& t : added_.tokens()) vocab_size_ = std::max(vocab_size_, t.id + 1);
  id_to_token_.resize(static_cast<std::size_t>(vocab_size_));
  is_added_.assign(static_cast<std::size_t>(vocab_size_), false);
  for (const auto& [token, id] : model_.vocab()) id_to_token_[static_cast<std::size_t>(id)] = token;
  for (const auto& t : added_.tokens()) {
    id_to_token_[static_cast<std::size_t>(t.id)] = t.content;
    is_added_[static_cast<std::size_t>(t.id)] = true;
  }
}

BpeTokenizer BpeTokenizer::from_json(std::string_view json_bytes) {
  json j;
  try {
    j = json::parse(json_bytes);
  } catch (const json::exception& e) {
    fail(std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) fail("the top level must be an object");
  const auto norm = j.find("normalizer");
  if (norm != j.end() && !norm->is_null()) fail("normalizers are not supported (Llama 3 has none)");
  check_pre_tokenizer(member(j, "pre_tokenizer", "the file"));

  const json& model = member(j, "model", "the file");
  if (!model.is_object() || model.value("type", "BPE") != "BPE") fail("model.type must be BPE");
  if (flag(model, "byte_fallback", false)) fail("byte_fallback BPE is not supported");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const auto it = model.find(key);
    if (it != model.end() && !it->is_null() && !(it->is_string() && it->get<std::string>().empty()))
      fail(std::string("model.") + key + " is not supported");
  }
  const json& vocab_json = member(model, "vocab", "model");
  if (!vocab_json.is_object()) fail("model.vocab must be an object of token → id");
  std::unordered_map<std::string, std::int64_t> vocab;
  vocab.reserve(vocab_json.size());
  for (const auto& [token, id] : vocab_json.items()) {
    if (!id.is_number_integer()) fail("the id of vocabulary entry '" + token + "' is not an integer");
    vocab.emplace(token, id.get<std::int64_t>());
  }
  const auto merges = read_merges(member(model, "merges", "model"));
  try {
    return BpeTokenizer(BpeModel(std::move(vocab), merges, flag(model, "ignore_merges", false)),
                        AddedTokenSplitter(read_added(j)), PreTokenizer::llama3);
  } catch (const Utf8Error& e) {
    fail(e.what());
  }
}

std::vector<std::int64_t> BpeTokenizer::encode(std::string_view text) const {
  require_utf8(text, "text");
  std::vector<std::int64_t> ids;
  ids.reserve(text.size() / 3 + 1);
  for (const auto& segment : added_.split(text)) {
    if (segment.token != nullptr) {
      ids.push_back(segment.token->id);
      continue;
    }
    const auto pieces =
        pre_ == PreTokenizer::smollm ? smollm_pretokenize(segment.text) : llama3_pretokenize(segment.text);
    for (const auto piece : pieces) model_.encode_word(alphabet_.encode(piece), ids);
  }
  return ids;
}

std::string BpeTokenizer::decode(const std::vector<std::int64_t>& ids) const {
  std::string out;
  for (const auto id : ids) {
    if (id < 0 || id >= vocab_size_) continue;
    const auto& token = id_to_token_[static_cast<std::size_t>(id)];
    if (is_added_[static_cast<std::size_t>(id)]) {
      out += token;
      continue;
    }
    for (const char32_t cp : decode_utf8(token).code_points) {
      if (const auto b = alphabet_.decode(cp)) out.push_back(static_cast<char>(*b));
    }
  }
  return out;
}

std::optional<std::int64_t> BpeTokenizer::token_id(std::string_view token) const {
  for (const auto& t : added_.tokens()) {
    if (t.content == token) return t.id;
  }
  const auto it = model_.vocab().find(std::string(token));
  if (it == model_.vocab().end()) return std::nullopt;
  return it->second;
}

}  // namespace optiscope::tokenizer
