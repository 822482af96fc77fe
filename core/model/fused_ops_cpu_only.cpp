// The fused ops in builds without CUDA: never usable, so the model keeps the LibTorch ops.
#include <stdexcept>

#include "model/fused_ops.h"

namespace optiscope::fused {
namespace {

[[noreturn]] void no_cuda() {
  throw std::logic_error("the fused model ops need a CUDA build of Optiscope");
}

}  // namespace

bool can_rms_norm(const torch::Tensor&, const torch::Tensor&) {
  return false;
}
torch::Tensor rms_norm(const torch::Tensor&, const torch::Tensor&, double) {
  no_cuda();
}
bool can_swiglu(const torch::Tensor&, const torch::Tensor&) {
  return false;
}
torch::Tensor swiglu(const torch::Tensor&, const torch::Tensor&) {
  no_cuda();
}
bool can_rope(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&, const torch::Tensor&) {
  return false;
}
std::pair<torch::Tensor, torch::Tensor> rope(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&,
                                             const torch::Tensor&) {
  no_cuda();
}
bool can_cross_entropy_rows(const torch::Tensor&, const torch::Tensor&) {
  return false;
}
void cross_entropy_rows(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&,
                        const torch::Tensor&, bool) {
  no_cuda();
}

}  // namespace optiscope::fused
