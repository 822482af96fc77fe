#pragma once
// Activation checkpointing for one decoder layer. LibTorch's C++ API has no
// torch.utils.checkpoint, so this is the reentrant variant written as a custom autograd Function:
// forward runs the layer without recording a graph (its activations are freed at once), backward
// runs it again with a graph and back-propagates through that, accumulating into the layer's
// parameter gradients directly and returning the gradient of the layer's input.
#include <torch/torch.h>

namespace optiscope {

class LlamaDecoderLayerImpl;

/// The layer's output, computed so that its activations are recomputed during backward.
torch::Tensor checkpointed_layer(const std::shared_ptr<LlamaDecoderLayerImpl>& layer, const torch::Tensor& x,
                                 const torch::Tensor& cos, const torch::Tensor& sin);

}  // namespace optiscope
