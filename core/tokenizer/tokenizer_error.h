#pragma once
#include <stdexcept>

namespace optiscope::tokenizer {

/// A tokenizer.json that is malformed or asks for something this tokenizer does not implement.
class TokenizerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace optiscope::tokenizer
