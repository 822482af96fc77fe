#pragma once
// Documents packed into fixed windows of seq_len + 1 tokens (inputs and shifted labels), in an
// order fixed by the seed, so every optimizer variant sees the same batches.
#include <cstdint>
#include <string>
#include <vector>

namespace optiscope {

struct TokenBatch {
  std::vector<std::int64_t> input_ids;  // batch * seq_len, row-major
  std::vector<std::int64_t> labels;     // batch * seq_len, next tokens
  std::int64_t batch = 0;
  std::int64_t seq_len = 0;
};

class PackedDataset {
 public:
  /// Each document is bos + tokens + eos; the stream is cut into windows of seq_len + 1.
  PackedDataset(const std::vector<std::vector<std::int64_t>>& documents, std::int64_t seq_len,
                std::int64_t bos, std::int64_t eos, std::uint64_t seed);

  std::size_t windows() const { return order_.size(); }
  std::int64_t seq_len() const { return seq_len_; }
  /// The index-th batch of the endless, seeded sequence (wraps with a fresh shuffle per epoch).
  TokenBatch batch(std::size_t index, std::int64_t batch_size) const;
  /// Windows first .. first + count - 1 in stream order, unshuffled: the held-out evaluation set.
  TokenBatch windows_in_order(std::size_t first, std::int64_t count) const;

 private:
  std::vector<std::int64_t> stream_;
  std::vector<std::size_t> order_;
  std::int64_t seq_len_;
  std::uint64_t seed_;

  void append_window(std::size_t window, TokenBatch& b) const;
};

}  // namespace optiscope
