#include "tokenizer/added_tokens.h"

#include <algorithm>

namespace optiscope::tokenizer {
namespace {

// ASCII white space is what lstrip/rstrip remove in practice (spaces and newlines around markers).
bool is_space_byte(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

}  // namespace

AddedTokenSplitter::AddedTokenSplitter(std::vector<AddedToken> tokens) : tokens_(std::move(tokens)) {
  by_first_byte_.resize(256);
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    if (tokens_[i].content.empty()) continue;
    by_first_byte_[static_cast<unsigned char>(tokens_[i].content[0])].push_back(i);
  }
  for (auto& list : by_first_byte_) {
    std::stable_sort(list.begin(), list.end(), [&](std::size_t a, std::size_t b) {
      return tokens_[a].content.size() > tokens_[b].content.size();
    });
  }
}

std::vector<TextSegment> AddedTokenSplitter::split(std::string_view text) const {
  std::vector<TextSegment> out;
  std::size_t plain_start = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    const AddedToken* found = nullptr;
    for (const std::size_t k : by_first_byte_[static_cast<unsigned char>(text[i])]) {
      if (text.substr(i).starts_with(tokens_[k].content)) {
        found = &tokens_[k];
        break;
      }
    }
    if (found == nullptr) {
      ++i;
      continue;
    }
    std::size_t begin = i;
    std::size_t end = i + found->content.size();
    if (found->lstrip) {
      while (begin > plain_start && is_space_byte(text[begin - 1])) --begin;
    }
    if (found->rstrip) {
      while (end < text.size() && is_space_byte(text[end])) ++end;
    }
    if (begin > plain_start) out.push_back({text.substr(plain_start, begin - plain_start), nullptr});
    out.push_back({text.substr(begin, end - begin), found});
    plain_start = end;
    i = end;
  }
  if (plain_start < text.size()) out.push_back({text.substr(plain_start), nullptr});
  return out;
}

}  // namespace optiscope::tokenizer
