#pragma once
#include <stdexcept>

namespace optiscope::checkpoint {

/// A checkpoint folder or file that is missing, truncated, malformed, or does not fit the model.
class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace optiscope::checkpoint
