// Fuzz target: training text from a user's file, as JSONL (one {"text": ...} object a line) and as
// plain text. Either documents come back, each valid UTF-8 and (plain text) non-empty, or
// DatasetError says why; anything else is a finding.
#include <cstdint>
#include <string_view>

#include "datasets/text_corpus.h"
#include "fuzz_util.h"

using optiscope::fuzz::finding;
using optiscope::fuzz::is_utf8;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    for (const auto& doc : optiscope::datasets::parse_jsonl_texts(bytes))
      if (!is_utf8(doc)) finding("a JSONL document is not UTF-8");
  } catch (const optiscope::datasets::DatasetError&) {
  }
  try {
    // A field name other than "text": TRL's dataset_text_field, as a user may set it.
    (void)optiscope::datasets::parse_jsonl_texts(bytes, "content", "fuzz.jsonl");
  } catch (const optiscope::datasets::DatasetError&) {
  }
  try {
    for (const auto& doc : optiscope::datasets::split_plain_text(bytes)) {
      if (doc.empty()) finding("an empty plain-text document");
      if (!is_utf8(doc)) finding("a plain-text document is not UTF-8");
    }
  } catch (const optiscope::datasets::DatasetError&) {
  }
  return 0;
}
