#pragma once
// Training text from files, without LibTorch: JSONL with one document per line in a "text" field
// (the article's SFT format, TRL's dataset_text_field), or plain text with documents separated by
// blank lines. Every document must be UTF-8; errors name the file, the line and the problem.
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace optiscope::datasets {

class DatasetError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The most one record may take: a JSONL line, or a paragraph of a text file. The tokenizer turns
/// each byte into an 8-byte id and the JSON parser copies the line, so one 100 MB line used to cost
/// gigabytes; longer documents belong on several lines.
inline constexpr std::size_t kMaxRecordBytes = 16u * 1024 * 1024;

/// Documents of JSONL bytes: each non-blank line is an object whose `field` is a string.
std::vector<std::string> parse_jsonl_texts(std::string_view bytes, const std::string& field = "text",
                                           const std::string& what = "dataset");

/// Documents of plain text: paragraphs separated by one or more blank lines, trimmed of the
/// newlines around them.
std::vector<std::string> split_plain_text(std::string_view bytes, const std::string& what = "dataset");

/// Reads a .jsonl (JSONL) or any other file (plain text). Throws DatasetError when the file is
/// missing, unreadable, malformed or holds no document.
std::vector<std::string> load_text_documents(const std::string& path, const std::string& field = "text");

}  // namespace optiscope::datasets
