#pragma once
// The fit ladder: one model, one device budget, one run per rung, each rung adding one memory trick
// to the one before, so a chart can show what each trick saves and what it costs in time. The
// default rungs follow torchtune's llama3/8B_full_single_device recipe, whose last rung is that
// recipe: bf16 weights, paged 8-bit AdamW, activation checkpointing, optimizer in backward and a
// chunked loss, batch 2.
//
// A ladder is recorded as a comparison whose spec JSON says so (a "fit_ladder" object with the
// budget and the rungs); run i of the comparison is rung i. No store schema change.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "spec/run_spec.h"

namespace optiscope {

struct LadderRung {
  std::string name;  // what the rung adds: "adamw_8bit", "+ optimizer in backward", ...
  RunSpec spec;
};

struct LadderSpec {
  std::string name;
  std::uint64_t budget_bytes = 0;  // the device budget every rung runs under
  std::vector<LadderRung> rungs;
};

/// torchtune's chunk count (CEWithChunkedOutputLoss num_output_chunks).
inline constexpr int kLadderLossChunks = 8;

/// The ladder's learning rate unless asked otherwise: torchtune's llama3 8B_full_single_device
/// recipe's (2e-5). RunSpec's own default (3e-3) is for the tiny models and makes a random-init 8B
/// diverge within a few steps, which hides what the loss column is for (the rungs agree).
inline constexpr double kLadderLearningRate = 2e-5;

/// The standard ladder over `base` (model, steps, batch, sequence length, device, seed...):
/// adamw_torch -> adamw_8bit -> paged_adamw_8bit -> + activation checkpointing -> + optimizer in
/// backward -> + chunked loss. Every rung runs with the budget and without gradient clipping (the
/// optimizer-in-backward rungs cannot clip; the others do not, so that their losses compare).
LadderSpec standard_fit_ladder(const RunSpec& base, std::uint64_t budget_bytes);

/// The spec JSON of the ladder's comparison.
std::string to_json(const LadderSpec& ladder);
/// The ladder a comparison's spec JSON describes; nullopt for an ordinary comparison or text that
/// is not a ladder (never throws).
std::optional<LadderSpec> ladder_from_json(const std::string& comparison_spec_json);

}  // namespace optiscope
