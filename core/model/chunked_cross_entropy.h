#pragma once
// Fused, chunked linear + cross-entropy: the loss of torchtune's CEWithChunkedOutputLoss
// (num_output_chunks) computed the way Liger's fused linear cross-entropy computes it. The output
// projection and the loss run a slice of tokens at a time, and each slice's gradients (of the hidden
// states and of the output weight) are computed in forward, from logits that are then dropped, so
// the logits of the whole batch never exist, in forward or in backward, and nothing is recomputed:
// the step does the plain path's three matmuls. Backward only scales the kept gradients by the
// upstream gradient.
//
// On bf16 CUDA tensors with the fused ops on, the cross-entropy step is one kernel over the bf16
// logits (loss_kernels.h, fused_ops.h); elsewhere it is LibTorch ops in float32, as the plain
// path's loss.
#include <torch/types.h>

namespace optiscope {

/// Mean next-token cross-entropy of linear(hidden, weight) against labels (-100 ignored), in
/// `chunks` slices of tokens. hidden [..., H], weight [V, H], labels [...] (hidden without its last
/// dimension). The same value and gradients as cross_entropy(linear(hidden, weight).float(), labels)
/// up to the order of float32 sums (and, in bf16, the weight gradient's rounding once per slice).
/// Under autocast the projection runs in the autocast dtype, as the plain path's would. The
/// gradients are computed only where grad mode is on and an input requires them; they are held from
/// forward to backward (hidden's size, and the weight's in the compute dtype), and backward may run
/// once.
torch::Tensor chunked_cross_entropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                    const torch::Tensor& labels, std::int64_t chunks);

}  // namespace optiscope
