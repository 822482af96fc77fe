#include "datasets/text_corpus.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tokenizer/utf8.h"

namespace optiscope::datasets {
namespace {

std::string line_label(const std::string& what, std::size_t line) {
  return what + " line " + std::to_string(line);
}

void require_utf8(std::string_view text, const std::string& what) {
  try {
    tokenizer::require_utf8(text, what);
  } catch (const tokenizer::Utf8Error& e) {
    throw DatasetError(e.what());
  }
}

// Refused before it is parsed or tokenized: DatasetError naming the record and the bound.
void require_record_size(std::size_t bytes, const std::string& label) {
  if (bytes <= kMaxRecordBytes) return;
  char size[32];
  std::snprintf(size, sizeof size, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  throw DatasetError(label + " is " + size + " long; one record may take at most " +
                     std::to_string(kMaxRecordBytes / (1024 * 1024)) +
                     " MiB (split the document over several records)");
}

bool blank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

}  // namespace

std::vector<std::string> parse_jsonl_texts(std::string_view bytes, const std::string& field,
                                           const std::string& what) {
  std::vector<std::string> docs;
  std::size_t start = 0;
  std::size_t line_no = 0;
  while (start < bytes.size()) {
    std::size_t end = bytes.find('\n', start);
    if (end == std::string_view::npos) end = bytes.size();
    const auto line = bytes.substr(start, end - start);
    ++line_no;
    start = end + 1;
    if (blank(line)) continue;
    const std::string label = line_label(what, line_no);
    require_record_size(line.size(), label);
    require_utf8(line, label);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw DatasetError(label + " is not valid JSON: " + e.what());
    }
    if (!j.is_object()) throw DatasetError(label + " is not a JSON object");
    const auto it = j.find(field);
    if (it == j.end()) throw DatasetError(label + " has no \"" + field + "\" field");
    if (!it->is_string()) throw DatasetError(label + ": \"" + field + "\" is not a string");
    docs.push_back(it->get<std::string>());
  }
  if (docs.empty()) throw DatasetError(what + " holds no document");
  return docs;
}

std::vector<std::string> split_plain_text(std::string_view bytes, const std::string& what) {
  require_utf8(bytes, what);
  std::vector<std::string> docs;
  std::string current;
  std::size_t start = 0;
  std::size_t paragraph = 1;
  std::size_t line_no = 0;
  const auto flush = [&] {
    while (!current.empty() && (current.back() == '\n' || current.back() == '\r')) current.pop_back();
    if (current.size() > kMaxRecordBytes)
      require_record_size(current.size(), what + " paragraph " + std::to_string(paragraph) + " (up to line " +
                                              std::to_string(line_no) + ")");
    if (!current.empty()) {
      ++paragraph;
      docs.push_back(std::move(current));
    }
    current.clear();
  };
  while (start < bytes.size()) {
    std::size_t end = bytes.find('\n', start);
    const bool last = end == std::string_view::npos;
    if (last) end = bytes.size();
    const auto line = bytes.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (blank(line)) {
      flush();
      continue;
    }
    current.append(line);
    if (current.size() > kMaxRecordBytes) flush();
    if (!last) current.push_back('\n');
  }
  flush();
  if (docs.empty()) throw DatasetError(what + " holds no text");
  return docs;
}

std::vector<std::string> load_text_documents(const std::string& path, const std::string& field) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw DatasetError("dataset '" + path +
                       "' is not a file (use 'synthetic', a .jsonl file or a text file)");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DatasetError("cannot read dataset '" + path + "'");
  // Read straight into one buffer: a string stream would hold the file twice.
  const auto size = std::filesystem::file_size(path, ec);
  std::string bytes(ec ? 0 : static_cast<std::size_t>(size), '\0');
  if (!in.read(bytes.data(), static_cast<std::streamsize>(bytes.size())))
    throw DatasetError("cannot read dataset '" + path + "'");
  const auto ext = std::filesystem::path(path).extension().string();
  if (ext == ".jsonl") return parse_jsonl_texts(bytes, field, path);
  return split_plain_text(bytes, path);
}

}  // namespace optiscope::datasets
