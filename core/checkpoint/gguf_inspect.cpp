#include "checkpoint/gguf_inspect.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>

#include "checkpoint/gguf_llama.h"
#include "checkpoint/mapped_file.h"

namespace optiscope::checkpoint {
namespace {

std::uint64_t physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return UINT64_MAX;  // unknown: do not refuse on a guess
  return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page);
}

std::optional<std::int64_t> optional_id(const GgufHeader& h, const char* key, std::int64_t vocab,
                                        const std::string& what) {
  const auto* v = h.find(key);
  if (v == nullptr) return std::nullopt;
  const auto id = v->as_int(key);
  if (id < 0 || id >= vocab)
    throw CheckpointError(what + ": " + key + " " + std::to_string(id) + " is outside the vocabulary");
  return id;
}

}  // namespace

bool is_gguf_path(const std::string& path) {
  if (path.size() < 5) return false;
  std::string ext = path.substr(path.size() - 5);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".gguf";
}

GgufModelInfo inspect_gguf(const std::filesystem::path& file) {
  const std::string what = file.string();
  const MappedFile mapped(file);
  const GgufHeader h = parse_gguf(mapped.bytes(), what);
  GgufModelInfo info;
  info.config = gguf_llama_config(h, what);
  check_gguf_tensors(h, info.config, what);
  // The model is built in fp32 on the host before any conversion or move to a device.
  check_fits_in_memory(info.config.parameter_count(), 4, physical_memory_bytes(), what);
  info.tensors = static_cast<std::int64_t>(h.tensors.size());
  info.vocab.model = h.at("tokenizer.ggml.model").as_string("tokenizer.ggml.model");
  info.vocab.pre =
      h.find("tokenizer.ggml.pre") ? h.at("tokenizer.ggml.pre").as_string("tokenizer.ggml.pre") : "default";
  // Counts are checked before the arrays are decoded: the vocabulary cannot be larger than the
  // embedding (already checked against the tensor bytes), and each merge makes one token.
  const GgufValue* tokens = &h.at("tokenizer.ggml.tokens");  // a pointer: see gguf_format.h
  if (tokens->array_size() > static_cast<std::uint64_t>(info.config.vocab_size))
    throw CheckpointError(what + ": the tokenizer has " + std::to_string(tokens->array_size()) +
                          " tokens, more than the model's vocabulary of " +
                          std::to_string(info.config.vocab_size));
  const auto* merges = h.find("tokenizer.ggml.merges");
  if (merges != nullptr && merges->array_size() > tokens->array_size())
    throw CheckpointError(what + ": the tokenizer has more merges than tokens");
  info.vocab.tokens = tokens->as_strings("tokenizer.ggml.tokens");
  if (const auto* t = h.find("tokenizer.ggml.token_type"))
    info.vocab.token_types = t->as_ints("tokenizer.ggml.token_type");
  if (merges != nullptr) info.vocab.merges = merges->as_strings("tokenizer.ggml.merges");
  info.bos_token_id = optional_id(h, "tokenizer.ggml.bos_token_id", info.config.vocab_size, what);
  info.eos_token_id = optional_id(h, "tokenizer.ggml.eos_token_id", info.config.vocab_size, what);
  return info;
}

}  // namespace optiscope::checkpoint
