#pragma once
// model.safetensors.index.json of a sharded checkpoint: which shard file holds which tensor.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "checkpoint/checkpoint_error.h"

namespace optiscope::checkpoint {

/// tensor name → shard file name. Throws CheckpointError for malformed JSON, a missing
/// "weight_map", or a shard name that is not a plain file name (no folders, no "..").
std::map<std::string, std::string> parse_safetensors_index(std::string_view json_text);

std::string safetensors_index_json(const std::map<std::string, std::string>& weight_map,
                                   std::uint64_t total_size);

}  // namespace optiscope::checkpoint
