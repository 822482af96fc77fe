#include "spec/fit_ladder.h"

#include <cstdio>
#include <nlohmann/json.hpp>

namespace optiscope {

LadderSpec standard_fit_ladder(const RunSpec& base, std::uint64_t budget_bytes) {
  LadderSpec ladder;
  ladder.budget_bytes = budget_bytes;
  char gib[32];
  std::snprintf(gib, sizeof gib, "%.4g", static_cast<double>(budget_bytes) / (1024.0 * 1024.0 * 1024.0));
  ladder.name = base.model + " fit ladder at " + gib + " GiB";
  RunSpec s = base;
  s.device_budget_bytes = budget_bytes;
  s.max_grad_norm = 0.0;
  s.gradient_accumulation_steps = 1;
  s.gradient_checkpointing = false;
  s.optimizer_in_bwd = false;
  s.loss_chunks = 0;
  s.optim = "adamw_torch";
  ladder.rungs.push_back({"adamw_torch", s});
  s.optim = "adamw_8bit";
  ladder.rungs.push_back({"adamw_8bit", s});
  s.optim = "paged_adamw_8bit";
  ladder.rungs.push_back({"paged_adamw_8bit", s});
  s.gradient_checkpointing = true;
  ladder.rungs.push_back({"+ activation checkpointing", s});
  s.optimizer_in_bwd = true;
  ladder.rungs.push_back({"+ optimizer in backward", s});
  s.loss_chunks = kLadderLossChunks;
  ladder.rungs.push_back({"+ chunked loss", s});
  return ladder;
}

std::string to_json(const LadderSpec& ladder) {
  nlohmann::json rungs = nlohmann::json::array();
  for (const auto& r : ladder.rungs)
    rungs.push_back({{"name", r.name}, {"spec", nlohmann::json::parse(to_json(r.spec))}});
  const nlohmann::json j = {
      {"name", ladder.name},
      {"fit_ladder", {{"budget_bytes", ladder.budget_bytes}, {"rungs", rungs}}},
  };
  return j.dump(2);
}

std::optional<LadderSpec> ladder_from_json(const std::string& comparison_spec_json) {
  try {
    const auto j = nlohmann::json::parse(comparison_spec_json);
    if (!j.is_object() || !j.contains("fit_ladder")) return std::nullopt;
    const auto& f = j.at("fit_ladder");
    LadderSpec ladder;
    ladder.name = j.value("name", std::string());
    ladder.budget_bytes = f.at("budget_bytes").get<std::uint64_t>();
    for (const auto& r : f.at("rungs"))
      ladder.rungs.push_back({r.at("name").get<std::string>(), run_spec_from_json(r.at("spec").dump())});
    return ladder;
  } catch (const std::exception&) {
    return std::nullopt;  // not ours to judge here: the comparison still shows as a comparison
  }
}

}  // namespace optiscope
