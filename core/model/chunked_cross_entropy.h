#pragma once
// Chunked cross-entropy (torchtune's CEWithChunkedOutputLoss, num_output_chunks): the output
// projection and the loss are computed a slice of tokens at a time, and recomputed slice by slice
// in backward, so the logits of the whole batch (tokens x vocabulary, in the compute dtype and
// again in float32 for the loss) are never held at once, in forward or in backward.
#include <torch/types.h>

namespace optiscope {

/// Mean next-token cross-entropy of linear(hidden, weight) against labels (-100 ignored), in
/// `chunks` slices of tokens. hidden [..., H], weight [V, H], labels [...] (hidden without its last
/// dimension). The same value and gradients as cross_entropy(linear(hidden, weight).float(), labels)
/// up to the order of float32 sums. Under autocast the projection runs in the autocast dtype, as
/// the plain path's would.
torch::Tensor chunked_cross_entropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                    const torch::Tensor& labels, std::int64_t chunks);

}  // namespace optiscope
