#include "checkpoint/safetensors_index.h"

#include <nlohmann/json.hpp>

namespace optiscope::checkpoint {

std::map<std::string, std::string> parse_safetensors_index(std::string_view json_text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    throw CheckpointError(std::string("model.safetensors.index.json: not valid JSON: ") + e.what());
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    throw CheckpointError("model.safetensors.index.json: no \"weight_map\" object");
  std::map<std::string, std::string> out;
  for (const auto& [name, file] : j["weight_map"].items()) {
    if (!file.is_string())
      throw CheckpointError("model.safetensors.index.json: shard of '" + name + "' is not a string");
    const auto f = file.get<std::string>();
    // Shards live beside the index; a path could read files outside the checkpoint folder.
    if (f.empty() || f.find('/') != std::string::npos || f.find('\\') != std::string::npos || f == "." ||
        f == "..")
      throw CheckpointError("model.safetensors.index.json: shard '" + f + "' of '" + name +
                            "' is not a file name");
    out[name] = f;
  }
  if (out.empty()) throw CheckpointError("model.safetensors.index.json: weight_map is empty");
  return out;
}

std::string safetensors_index_json(const std::map<std::string, std::string>& weight_map,
                                   std::uint64_t total_size) {
  return nlohmann::json{{"metadata", {{"total_size", total_size}}}, {"weight_map", weight_map}}.dump(2);
}

}  // namespace optiscope::checkpoint
