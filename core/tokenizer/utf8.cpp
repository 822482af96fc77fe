#include "tokenizer/utf8.h"

namespace optiscope::tokenizer {
namespace {

// Length of the sequence at text[i] and its code point, or 0 when it is not valid UTF-8.
std::size_t sequence_at(std::string_view text, std::size_t i, char32_t& cp) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) {
    cp = lead;
    return 1;
  }
  std::size_t len = 0;
  char32_t min = 0;
  if ((lead & 0xE0) == 0xC0) {
    len = 2;
    cp = lead & 0x1F;
    min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    len = 3;
    cp = lead & 0x0F;
    min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    len = 4;
    cp = lead & 0x07;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > text.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  // Overlong forms, UTF-16 surrogates and values past Unicode are not UTF-8.
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

}  // namespace

std::optional<std::size_t> find_invalid_utf8(std::string_view text) {
  std::size_t i = 0;
  char32_t cp = 0;
  while (i < text.size()) {
    const std::size_t len = sequence_at(text, i, cp);
    if (len == 0) return i;
    i += len;
  }
  return std::nullopt;
}

void require_utf8(std::string_view text, const std::string& what) {
  if (const auto bad = find_invalid_utf8(text))
    throw Utf8Error(what + " is not valid UTF-8 (byte offset " + std::to_string(*bad) + ")", *bad);
}

DecodedText decode_utf8(std::string_view text) {
  DecodedText out;
  out.code_points.reserve(text.size());
  out.offsets.reserve(text.size() + 1);
  std::size_t i = 0;
  char32_t cp = 0;
  while (i < text.size()) {
    const std::size_t len = sequence_at(text, i, cp);
    if (len == 0) throw Utf8Error("text is not valid UTF-8 (byte offset " + std::to_string(i) + ")", i);
    out.code_points.push_back(cp);
    out.offsets.push_back(i);
    i += len;
  }
  out.offsets.push_back(text.size());
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace optiscope::tokenizer
