#include "datasets/run_datasets.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

#include "data/byte_tokenizer.h"
#include "data/synthetic_instructions.h"
#include "datasets/text_corpus.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/utf8.h"

namespace optiscope::datasets {
namespace {

// Enough synthetic examples that a short run rarely sees one twice.
constexpr std::size_t kSyntheticExamples = 20000;

class ByteLevel final : public TextTokenizer {
 public:
  std::vector<std::int64_t> encode(std::string_view text) const override {
    // Byte ids would take any bytes; the same UTF-8 rule as the BPE path keeps datasets portable.
    tokenizer::require_utf8(text, "text");
    return tokenizer_.encode(text);
  }
  std::int64_t bos() const override { return ByteTokenizer::kBos; }
  std::int64_t eos() const override { return ByteTokenizer::kEos; }
  std::int64_t vocab_size() const override { return ByteTokenizer::kVocabSize; }

 private:
  ByteTokenizer tokenizer_;
};

class Bpe final : public TextTokenizer {
 public:
  Bpe(tokenizer::BpeTokenizer t, std::int64_t bos, std::int64_t eos)
      : t_(std::move(t)), bos_(bos), eos_(eos) {}
  std::vector<std::int64_t> encode(std::string_view text) const override { return t_.encode(text); }
  std::int64_t bos() const override { return bos_; }
  std::int64_t eos() const override { return eos_; }
  std::int64_t vocab_size() const override { return t_.vocab_size(); }

 private:
  tokenizer::BpeTokenizer t_;
  std::int64_t bos_;
  std::int64_t eos_;
};

std::int64_t special_id(const tokenizer::BpeTokenizer& t, std::optional<std::int64_t> configured,
                        const char* name, const std::string& file) {
  if (configured) return *configured;
  if (const auto id = t.token_id(name)) return *id;
  throw DatasetError(file + " has no " + name + " token and config.json names none");
}

}  // namespace

std::unique_ptr<TextTokenizer> make_byte_tokenizer() {
  return std::make_unique<ByteLevel>();
}

std::unique_ptr<TextTokenizer> load_bpe_tokenizer(const std::filesystem::path& file,
                                                  std::optional<std::int64_t> bos,
                                                  std::optional<std::int64_t> eos) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw DatasetError("cannot read " + file.string());
  std::ostringstream s;
  s << in.rdbuf();
  auto t = tokenizer::BpeTokenizer::from_json(s.str());
  const auto b = special_id(t, bos, "<|begin_of_text|>", file.string());
  const auto e = special_id(t, eos, "<|end_of_text|>", file.string());
  return std::make_unique<Bpe>(std::move(t), b, e);
}

std::unique_ptr<TextTokenizer> make_gguf_tokenizer(const tokenizer::GgufVocab& vocab,
                                                   std::optional<std::int64_t> bos,
                                                   std::optional<std::int64_t> eos) {
  auto t = tokenizer::bpe_from_gguf_vocab(vocab);
  if (!bos || !eos)
    throw DatasetError(
        "the GGUF file names no tokenizer.ggml.bos_token_id or eos_token_id to separate documents");
  return std::make_unique<Bpe>(std::move(t), *bos, *eos);
}

std::vector<std::string> run_documents(const RunSpec& spec) {
  // The examples depend on the seed only, never on the optimizer: every variant sees the same data.
  if (spec.dataset == "synthetic") return synthetic_instructions(kSyntheticExamples, spec.seed);
  return load_text_documents(spec.dataset, spec.dataset_text_field);
}

DocumentSplit split_documents(std::vector<std::string> docs, double fraction, std::uint64_t seed) {
  DocumentSplit out;
  if (!(fraction > 0.0)) {
    out.train = std::move(docs);
    return out;
  }
  auto held = static_cast<std::size_t>(std::llround(fraction * static_cast<double>(docs.size())));
  held = std::max<std::size_t>(held, 1);
  if (held >= docs.size())
    throw DatasetError("eval_split " + std::to_string(fraction) + " leaves no training document out of " +
                       std::to_string(docs.size()));
  std::vector<std::size_t> order(docs.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  // A stream of its own, so the held-out choice does not shift the training order's shuffle.
  std::mt19937_64 rng(seed ^ 0xD1B54A32D192ED03ull);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<bool> is_eval(docs.size(), false);
  for (std::size_t i = 0; i < held; ++i) is_eval[order[i]] = true;
  // Both sides keep the file's order; the packer shuffles the training windows itself.
  for (std::size_t i = 0; i < docs.size(); ++i)
    (is_eval[i] ? out.eval : out.train).push_back(std::move(docs[i]));
  return out;
}

RunData make_run_data(const RunSpec& spec, const TextTokenizer& tokenizer) {
  auto split = split_documents(run_documents(spec), spec.eval_split, spec.seed);
  const auto encode_all = [&](const std::vector<std::string>& docs) {
    std::vector<std::vector<std::int64_t>> ids;
    ids.reserve(docs.size());
    for (std::size_t i = 0; i < docs.size(); ++i) {
      try {
        ids.push_back(tokenizer.encode(docs[i]));
      } catch (const tokenizer::Utf8Error& e) {
        throw DatasetError("document " + std::to_string(i + 1) + " of " + spec.dataset + ": " + e.what());
      }
    }
    return ids;
  };
  std::optional<PackedDataset> eval;
  if (!split.eval.empty()) {
    try {
      eval.emplace(encode_all(split.eval), spec.max_seq_length, tokenizer.bos(), tokenizer.eos(), spec.seed);
    } catch (const std::invalid_argument&) {
      throw DatasetError("the held-out split (eval_split " + std::to_string(spec.eval_split) +
                         ") is shorter than one sequence of " + std::to_string(spec.max_seq_length) +
                         " tokens: raise eval_split or lower max_seq_length");
    }
  }
  PackedDataset train(encode_all(split.train), spec.max_seq_length, tokenizer.bos(), tokenizer.eos(),
                      spec.seed);
  return RunData{std::move(train), std::move(eval)};
}

}  // namespace optiscope::datasets
