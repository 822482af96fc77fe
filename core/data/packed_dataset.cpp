#include "data/packed_dataset.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <stdexcept>

namespace optiscope {

PackedDataset::PackedDataset(const std::vector<std::vector<std::int64_t>>& documents, std::int64_t seq_len,
                             std::int64_t bos, std::int64_t eos, std::uint64_t seed)
    : seq_len_(seq_len), seed_(seed) {
  for (const auto& doc : documents) {
    stream_.push_back(bos);
    stream_.insert(stream_.end(), doc.begin(), doc.end());
    stream_.push_back(eos);
  }
  const auto window = static_cast<std::size_t>(seq_len + 1);
  const std::size_t count = stream_.size() / window;
  if (count == 0)
    throw std::invalid_argument("the dataset is shorter than one sequence of " + std::to_string(seq_len) +
                                " tokens");
  order_.resize(count);
  std::iota(order_.begin(), order_.end(), std::size_t{0});
}

TokenBatch PackedDataset::batch(std::size_t index, std::int64_t batch_size) const {
  TokenBatch b;
  b.batch = batch_size;
  b.seq_len = seq_len_;
  b.input_ids.reserve(static_cast<std::size_t>(batch_size * seq_len_));
  b.labels.reserve(b.input_ids.capacity());
  const std::size_t n = order_.size();
  std::size_t cached_epoch = static_cast<std::size_t>(-1);
  std::vector<std::size_t> perm;
  for (std::int64_t row = 0; row < batch_size; ++row) {
    const std::size_t global = index * static_cast<std::size_t>(batch_size) + static_cast<std::size_t>(row);
    const std::size_t epoch = global / n;
    if (epoch != cached_epoch) {
      // Each epoch gets its own shuffle, derived from the run seed alone.
      perm = order_;
      std::mt19937_64 rng(seed_ ^ (0x9E3779B97F4A7C15ull * (epoch + 1)));
      std::shuffle(perm.begin(), perm.end(), rng);
      cached_epoch = epoch;
    }
    append_window(perm[global % n], b);
  }
  return b;
}

TokenBatch PackedDataset::windows_in_order(std::size_t first, std::int64_t count) const {
  if (first + static_cast<std::size_t>(count) > order_.size())
    throw std::out_of_range("windows " + std::to_string(first) + " + " + std::to_string(count) +
                            " past the " + std::to_string(order_.size()) + " of the dataset");
  TokenBatch b;
  b.batch = count;
  b.seq_len = seq_len_;
  b.input_ids.reserve(static_cast<std::size_t>(count * seq_len_));
  b.labels.reserve(b.input_ids.capacity());
  for (std::int64_t row = 0; row < count; ++row) append_window(first + static_cast<std::size_t>(row), b);
  return b;
}

void PackedDataset::append_window(std::size_t window, TokenBatch& b) const {
  const std::size_t start = window * static_cast<std::size_t>(seq_len_ + 1);
  for (std::int64_t t = 0; t < seq_len_; ++t) {
    b.input_ids.push_back(stream_[start + static_cast<std::size_t>(t)]);
    b.labels.push_back(stream_[start + static_cast<std::size_t>(t) + 1]);
  }
}

}  // namespace optiscope
