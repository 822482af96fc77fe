#pragma once
// The cross-entropy part of the fused linear + cross-entropy loss (core/model/chunked_cross_entropy):
// one pass that turns a slice of bf16 logits into each row's loss and, in the same buffer, the
// gradient of the mean loss with respect to those logits. Plain C++ launcher, no LibTorch or CUDA
// headers, as model_kernels.h.
//
// The unfused loss widens the logits to float32, runs log-softmax, gathers, and in backward runs
// log-softmax's backward and narrows the result again: about nine passes over a float32 copy of the
// logits. This reads the bf16 logits twice (the log-sum-exp, then the gradient) and writes them once.
#include <cstdint>

namespace optiscope::kernels {

/// What cross_entropy_rows accepts: a vocabulary that is a whole number of 8-element vectors.
bool cross_entropy_supported(std::int64_t vocab);

/// logits: rows x vocab bf16, row-major, 16-byte aligned. targets: rows int64 class indices, a
/// negative one (the -100 of ignore_index) marks a row that does not count. inv_count: one float on
/// the device, 1 / (rows that count in the whole batch), so that the gradient is that of the
/// batch's mean loss. For every row, in float32 from the bf16 logits x:
///   loss[r] = logsumexp(x[r]) - x[r, t]   (0 for an ignored row)
/// and, when write_grad, x[r, c] is replaced by bf16((softmax(x[r])[c] - [c == t]) * inv_count)
/// (0 for an ignored row): what the unfused loss's backward gives its bf16 logits. Asynchronous
/// on `stream` (a cudaStream_t as void*); throws std::invalid_argument outside what it handles and
/// std::runtime_error when the launch fails.
void cross_entropy_rows(void* logits, const std::int64_t* targets, const float* inv_count, float* loss,
                        std::int64_t rows, std::int64_t vocab, bool write_grad, void* stream);

}  // namespace optiscope::kernels
