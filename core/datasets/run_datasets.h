#pragma once
// The data of one run: documents from the spec's dataset, a tokenizer (byte-level for presets, the
// checkpoint's tokenizer.json otherwise), a held-out split, and both packed to the sequence length
// in an order fixed by the seed alone, so every optimizer variant sees the same batches.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "data/packed_dataset.h"
#include "spec/run_spec.h"
#include "tokenizer/gguf_vocab.h"

namespace optiscope::datasets {

class TextTokenizer {
 public:
  virtual ~TextTokenizer() = default;
  /// Ids of UTF-8 text without begin/end tokens.
  virtual std::vector<std::int64_t> encode(std::string_view text) const = 0;
  virtual std::int64_t bos() const = 0;
  virtual std::int64_t eos() const = 0;
  /// One past the largest id the tokenizer can produce.
  virtual std::int64_t vocab_size() const = 0;
};

std::unique_ptr<TextTokenizer> make_byte_tokenizer();
/// tokenizer.json of a checkpoint; bos/eos from config.json, else Llama 3's
/// <|begin_of_text|> / <|end_of_text|>.
std::unique_ptr<TextTokenizer> load_bpe_tokenizer(const std::filesystem::path& tokenizer_json,
                                                  std::optional<std::int64_t> bos,
                                                  std::optional<std::int64_t> eos);

/// The tokenizer a GGUF file describes (tokenizer.ggml.*), with its begin/end ids.
std::unique_ptr<TextTokenizer> make_gguf_tokenizer(const tokenizer::GgufVocab& vocab,
                                                   std::optional<std::int64_t> bos,
                                                   std::optional<std::int64_t> eos);

/// The built-in synthetic instructions (from the seed), or the documents of a .jsonl / text file.
std::vector<std::string> run_documents(const RunSpec& spec);

struct DocumentSplit {
  std::vector<std::string> train;
  std::vector<std::string> eval;
};
/// Holds out round(fraction x documents) documents (at least one when fraction > 0), chosen by a
/// shuffle from the seed. Throws DatasetError when nothing would be left on either side.
DocumentSplit split_documents(std::vector<std::string> docs, double fraction, std::uint64_t seed);

struct RunData {
  PackedDataset train;
  std::optional<PackedDataset> eval;
};
RunData make_run_data(const RunSpec& spec, const TextTokenizer& tokenizer);

}  // namespace optiscope::datasets
