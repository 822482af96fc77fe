#pragma once
// What a fine-tuning run needs in memory, component by component, with the formula that gives
// each number: the calculator shows the formulas so that it teaches, not only answers.
//
// Bytes per parameter follow DESIGN.md's categories: weights and gradients in the parameter dtype;
// AdamW keeps two moments (in the parameter dtype for adamw_torch, fp32 for the 32-bit variants,
// one byte each plus a 4-byte absmax per 256-element block for the 8-bit ones). Paged variants keep
// the same bytes in managed memory, which spills to the host when the device is full; offloaded
// variants keep them in pinned host memory. Activations follow Korthikanti et al. (no
// recomputation): s*b*h*L*((16*B + 2) + (2*B + 1)*a*s/h) bytes for B-byte activations, plus the
// fp32 logits the loss needs (b*s*V*4). With activation checkpointing only each layer's input
// (s*b*h*B) stays, plus one layer's activations while it is recomputed; with optimizer in backward
// the gradients shrink to the largest one (the embedding's, which a tied output projection keeps
// to the end of backward); a chunked loss holds 1/chunks of the logits.
#include <cstdint>
#include <string>
#include <vector>

#include "estimate/model_shapes.h"

namespace optiscope::estimate {

enum class Placement { device, paged, host };

struct Component {
  std::string name;     // "weights", "gradients", "optimizer state", "activations", "CUDA context"
  std::string formula;  // e.g. "8.03 G params x 4 B"
  std::int64_t bytes = 0;
  Placement where = Placement::device;
};

struct Workload {
  ModelShape model;
  std::int64_t parameters = 0;     // 0: the model's own count
  std::string precision = "fp32";  // fp32 | bf16 | fp32_autocast_bf16
  std::string optim = "adamw_torch";
  std::int64_t batch = 1;
  std::int64_t seq_len = 512;
  // The memory tricks of the fit ladder (spec keys of the same names).
  bool gradient_checkpointing = false;  // only each layer's input is kept; one layer is recomputed at a time
  bool optimizer_in_bwd = false;        // gradients freed as they are used: about the largest one remains
  std::int64_t loss_chunks = 0;         // logits held a 1/chunks slice at a time
  // Data parallel (spec keys nproc_per_node, zero_stage): the estimate is per rank.
  std::int64_t ranks = 1;
  int zero_stage = 0;  // 0 state replicated, 1 state sharded, 2 state and gradients sharded
};

struct Estimate {
  std::vector<Component> components;
  std::int64_t device_bytes = 0;  // must be on the device
  std::int64_t paged_bytes = 0;   // wants the device, may spill to the host
  std::int64_t host_bytes = 0;    // lives on the host
  std::int64_t total() const { return device_bytes + paged_bytes + host_bytes; }
};

/// Bytes per parameter of the weights (and of the gradients) for a precision name.
double weight_bytes_per_param(const std::string& precision);
/// Bytes per parameter of the optimizer state for a variant and precision.
double optimizer_bytes_per_param(const std::string& optim, const std::string& precision);
Placement optimizer_placement(const std::string& optim);

Estimate estimate(const Workload& w);

enum class Fit { fits, fits_with_paging, does_not_fit };

struct Card {
  std::string name;
  std::int64_t bytes;
};
/// The cards the calculator checks: 24, 40, 48, 80 and 141 GB.
const std::vector<Card>& cards();
/// fits_with_paging: everything but the paged state fits, and that state spills to the host.
Fit fit_on(const Estimate& e, std::int64_t device_bytes);
std::string to_string(Fit f);

/// "1.50 GiB", "12.0 MiB", "512 B": binary units, three significant digits.
std::string format_bytes(double bytes);
/// "8.03 G", "124 M": parameter counts.
std::string format_count(double n);

}  // namespace optiscope::estimate
