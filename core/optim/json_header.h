#pragma once
// The JSON subset a safetensors header uses: objects, arrays, strings and non-negative integers.
// Header-only (inline) so that core/optim's state files need no build-file change; the project's
// JSON library (nlohmann) is private to the store and absent on the GPU machine's include path.
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace optiscope::optim::json {

struct Value {
  enum class Kind { object, array, string, integer } kind = Kind::integer;
  std::map<std::string, Value> object;
  std::vector<Value> array;
  std::string string;
  std::uint64_t integer = 0;
};

inline std::string quote(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      static const char* hex = "0123456789abcdef";
      out += "\\u00";
      out += hex[(c >> 4) & 0xf];
      out += hex[c & 0xf];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}
  Value parse_document() {
    Value v = parse_value(0);
    skip_space();
    if (pos_ != s_.size()) fail("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("state file header: " + what + " at offset " + std::to_string(pos_));
  }
  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t'))
      ++pos_;
  }
  char next() {
    skip_space();
    if (pos_ >= s_.size()) fail("unexpected end");
    return s_[pos_];
  }
  void expect(char c) {
    if (next() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  Value parse_value(int depth) {
    if (depth > 16) fail("nesting too deep");
    const char c = next();
    Value v;
    if (c == '{') {
      v.kind = Value::Kind::object;
      ++pos_;
      if (next() == '}') {
        ++pos_;
        return v;
      }
      for (;;) {
        std::string key = parse_string();
        expect(':');
        v.object[key] = parse_value(depth + 1);
        if (next() == ',') {
          ++pos_;
          continue;
        }
        expect('}');
        return v;
      }
    }
    if (c == '[') {
      v.kind = Value::Kind::array;
      ++pos_;
      if (next() == ']') {
        ++pos_;
        return v;
      }
      for (;;) {
        v.array.push_back(parse_value(depth + 1));
        if (next() == ',') {
          ++pos_;
          continue;
        }
        expect(']');
        return v;
      }
    }
    if (c == '"') {
      v.kind = Value::Kind::string;
      v.string = parse_string();
      return v;
    }
    if (c >= '0' && c <= '9') {
      v.kind = Value::Kind::integer;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
        const std::uint64_t digit = static_cast<std::uint64_t>(s_[pos_++] - '0');
        if (v.integer > (UINT64_MAX - digit) / 10) fail("integer too large");
        v.integer = v.integer * 10 + digit;
      }
      return v;
    }
    fail("unsupported value");
  }
  std::string parse_string() {
    expect('"');
    std::string out;
    while (pos_ < s_.size() && s_[pos_] != '"') {
      char c = s_[pos_++];
      if (c == '\\') {
        if (pos_ >= s_.size()) fail("bad escape");
        c = s_[pos_++];
        if (c == 'n')
          c = '\n';
        else if (c == 't')
          c = '\t';
        else if (c == 'r')
          c = '\r';
        else if (c == 'b')
          c = '\b';
        else if (c == 'f')
          c = '\f';
        else if (c == 'u') {
          if (pos_ + 4 > s_.size()) fail("bad \\u escape");
          const unsigned code = static_cast<unsigned>(std::stoul(s_.substr(pos_, 4), nullptr, 16));
          pos_ += 4;
          if (code > 0x7f) fail("non-ASCII \\u escape");
          c = static_cast<char>(code);
        } else if (c != '"' && c != '\\' && c != '/') {
          fail("bad escape");
        }
      }
      out += c;
    }
    expect('"');
    return out;
  }

  const std::string& s_;
  std::size_t pos_ = 0;
};

}  // namespace optiscope::optim::json
