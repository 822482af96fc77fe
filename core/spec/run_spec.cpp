#include "spec/run_spec.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "model/llama_config.h"

namespace optiscope {
namespace {

using nlohmann::json;

bool contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

json to_object(const RunSpec& s) {
  return json{{"model", s.model},
              {"dataset", s.dataset},
              {"optim", s.optim},
              {"precision", s.precision},
              {"bf16", s.precision == "bf16" || s.precision == "fp32_autocast_bf16"},
              {"per_device_train_batch_size", s.per_device_train_batch_size},
              {"max_seq_length", s.max_seq_length},
              {"gradient_accumulation_steps", s.gradient_accumulation_steps},
              {"learning_rate", s.learning_rate},
              {"warmup_ratio", s.warmup_ratio},
              {"lr_scheduler_type", s.lr_scheduler_type},
              {"weight_decay", s.weight_decay},
              {"max_grad_norm", s.max_grad_norm},
              {"max_steps", s.max_steps},
              {"logging_steps", s.logging_steps},
              {"dataset_text_field", s.dataset_text_field},
              {"gradient_checkpointing", s.gradient_checkpointing},
              {"optimizer_in_bwd", s.optimizer_in_bwd},
              {"loss_chunks", s.loss_chunks},
              {"nproc_per_node", s.nproc_per_node},
              {"zero_stage", s.zero_stage},
              {"eval_steps", s.eval_steps},
              {"eval_split", s.eval_split},
              {"per_device_eval_batch_size", s.per_device_eval_batch_size},
              {"max_eval_samples", s.max_eval_samples},
              {"seed", s.seed},
              {"device", s.device},
              {"device_budget_bytes", s.device_budget_bytes}};
}

// nlohmann converts any JSON number to any arithmetic type with a plain cast: 1e300 into an int
// is undefined behaviour, 2.5 silently becomes 2 and -1 a huge seed. Whole numbers that fit the
// field are accepted (1e3 too); anything else is refused with the key's name.
template <typename T>
T whole_number(const json& v, const char* key) {
  using limits = std::numeric_limits<T>;
  const auto refuse = [&]() -> T {
    throw SpecError(std::string("spec key '") + key + "' must be a whole number from " +
                    std::to_string(limits::min()) + " to " + std::to_string(limits::max()) + ", not " +
                    v.dump());
  };
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    return u <= static_cast<std::uint64_t>(limits::max()) ? static_cast<T>(u) : refuse();
  }
  if (v.is_number_integer()) {
    const auto i = v.get<std::int64_t>();
    if (i < 0)
      return std::is_signed_v<T> && i >= static_cast<std::int64_t>(limits::min()) ? static_cast<T>(i)
                                                                                  : refuse();
    return static_cast<std::uint64_t>(i) <= static_cast<std::uint64_t>(limits::max()) ? static_cast<T>(i)
                                                                                      : refuse();
  }
  const double d = v.get<double>();
  // 2^digits is the first value past the top of T, and exact as a double.
  const double past_top = std::ldexp(1.0, limits::digits);
  const double bottom = std::is_signed_v<T> ? -past_top : 0.0;
  return d == std::trunc(d) && d >= bottom && d < past_top ? static_cast<T>(d) : refuse();
}

template <typename T>
void read_key(const json& j, const char* key, T& out) {
  const auto it = j.find(key);
  if (it == j.end()) return;
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (it->is_number()) {
      out = whole_number<T>(*it, key);
      return;
    }
  }
  try {
    out = it->get<T>();
  } catch (const json::exception&) {
    throw SpecError(std::string("spec key '") + key + "' has the wrong type: " + it->dump());
  }
}

RunSpec from_object(const json& j) {
  if (!j.is_object()) throw SpecError("a run spec must be a JSON object");
  static const std::vector<std::string> known_keys = {"model",
                                                      "dataset",
                                                      "optim",
                                                      "precision",
                                                      "bf16",
                                                      "per_device_train_batch_size",
                                                      "max_seq_length",
                                                      "gradient_accumulation_steps",
                                                      "learning_rate",
                                                      "warmup_ratio",
                                                      "lr_scheduler_type",
                                                      "weight_decay",
                                                      "max_grad_norm",
                                                      "max_steps",
                                                      "logging_steps",
                                                      "seed",
                                                      "device",
                                                      "device_budget_bytes",
                                                      "dataset_text_field",
                                                      "gradient_checkpointing",
                                                      "optimizer_in_bwd",
                                                      "loss_chunks",
                                                      "nproc_per_node",
                                                      "zero_stage",
                                                      "eval_steps",
                                                      "eval_split",
                                                      "per_device_eval_batch_size",
                                                      "max_eval_samples"};
  for (const auto& [key, value] : j.items()) {
    if (!contains(known_keys, key)) throw SpecError("unknown spec key '" + key + "'");
  }
  RunSpec s;
  read_key(j, "model", s.model);
  read_key(j, "dataset", s.dataset);
  read_key(j, "optim", s.optim);
  read_key(j, "precision", s.precision);
  // TrainingArguments' bf16=True means bf16 mixed precision; an explicit precision wins.
  if (!j.contains("precision") && j.contains("bf16")) {
    bool bf16 = false;
    read_key(j, "bf16", bf16);
    s.precision = bf16 ? "bf16" : "fp32";
  }
  read_key(j, "per_device_train_batch_size", s.per_device_train_batch_size);
  read_key(j, "max_seq_length", s.max_seq_length);
  read_key(j, "gradient_accumulation_steps", s.gradient_accumulation_steps);
  read_key(j, "learning_rate", s.learning_rate);
  read_key(j, "warmup_ratio", s.warmup_ratio);
  read_key(j, "lr_scheduler_type", s.lr_scheduler_type);
  read_key(j, "weight_decay", s.weight_decay);
  read_key(j, "max_grad_norm", s.max_grad_norm);
  read_key(j, "max_steps", s.max_steps);
  read_key(j, "logging_steps", s.logging_steps);
  read_key(j, "seed", s.seed);
  read_key(j, "device", s.device);
  read_key(j, "device_budget_bytes", s.device_budget_bytes);
  read_key(j, "dataset_text_field", s.dataset_text_field);
  read_key(j, "gradient_checkpointing", s.gradient_checkpointing);
  read_key(j, "optimizer_in_bwd", s.optimizer_in_bwd);
  read_key(j, "loss_chunks", s.loss_chunks);
  read_key(j, "nproc_per_node", s.nproc_per_node);
  read_key(j, "zero_stage", s.zero_stage);
  read_key(j, "eval_steps", s.eval_steps);
  read_key(j, "eval_split", s.eval_split);
  read_key(j, "per_device_eval_batch_size", s.per_device_eval_batch_size);
  read_key(j, "max_eval_samples", s.max_eval_samples);
  return s;
}

json parse(const std::string& text) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    // Not only parse_error: a number too large for a double (1e400) is an out_of_range.
    throw SpecError(std::string("spec is not valid JSON: ") + e.what());
  }
}

void throw_if_invalid(const RunSpec& s) {
  const auto problems = validate(s);
  if (problems.empty()) return;
  std::string message = "invalid run spec:";
  for (const auto& p : problems) message += "\n  - " + p;
  throw SpecError(message);
}

}  // namespace

const std::vector<std::string>& known_optimizers() {
  static const std::vector<std::string> names = {
      "adamw_torch",       "adamw_torch_fused", "adamw_32bit",         "adamw_8bit",
      "paged_adamw_32bit", "paged_adamw_8bit",  "offload_adamw_32bit", "offload_adamw_8bit"};
  return names;
}

const std::vector<std::string>& known_model_presets() {
  return llama_preset_names();
}

std::vector<std::string> validate(const RunSpec& s) {
  std::vector<std::string> problems;
  if (s.model.empty()) problems.emplace_back("model must name a preset or a checkpoint folder");
  if (!contains(known_optimizers(), s.optim)) problems.push_back("unknown optimizer '" + s.optim + "'");
  if (s.precision != "fp32" && s.precision != "bf16" && s.precision != "fp32_autocast_bf16")
    problems.push_back("precision must be fp32, bf16 or fp32_autocast_bf16, not '" + s.precision + "'");
  if (s.per_device_train_batch_size < 1)
    problems.emplace_back("per_device_train_batch_size must be at least 1");
  if (s.max_seq_length < 2) problems.emplace_back("max_seq_length must be at least 2");
  if (s.gradient_accumulation_steps < 1)
    problems.emplace_back("gradient_accumulation_steps must be at least 1");
  if (!(s.learning_rate > 0.0) || !(s.learning_rate < 10.0))
    problems.emplace_back("learning_rate must be positive (and below 10)");
  if (!(s.warmup_ratio >= 0.0 && s.warmup_ratio <= 1.0))
    problems.emplace_back("warmup_ratio must be in [0, 1]");
  if (s.lr_scheduler_type != "linear" && s.lr_scheduler_type != "constant" && s.lr_scheduler_type != "cosine")
    problems.push_back("lr_scheduler_type must be linear, constant or cosine, not '" + s.lr_scheduler_type +
                       "'");
  if (!(s.weight_decay >= 0.0)) problems.emplace_back("weight_decay must not be negative");
  if (!(s.max_grad_norm >= 0.0))
    problems.emplace_back("max_grad_norm must not be negative (0 turns clipping off)");
  if (s.max_steps < 1) problems.emplace_back("max_steps must be at least 1");
  if (s.logging_steps < 1) problems.emplace_back("logging_steps must be at least 1");
  if (s.dataset_text_field.empty()) problems.emplace_back("dataset_text_field must name a JSONL field");
  if (s.eval_steps < 0) problems.emplace_back("eval_steps must not be negative (0 turns evaluation off)");
  if (!(s.eval_split >= 0.0 && s.eval_split <= 0.5))
    problems.emplace_back("eval_split must be a fraction of the documents in [0, 0.5]");
  if (s.eval_steps > 0 && !(s.eval_split > 0.0))
    problems.emplace_back("eval_steps needs a held-out split: set eval_split above 0");
  if (s.per_device_eval_batch_size < 0)
    problems.emplace_back("per_device_eval_batch_size must not be negative (0 = the training batch size)");
  if (s.max_eval_samples < 0) problems.emplace_back("max_eval_samples must not be negative (0 = all)");
  if (s.optimizer_in_bwd && s.max_grad_norm > 0.0)
    problems.emplace_back(
        "optimizer_in_bwd cannot clip gradients: each parameter is updated before the global norm is known. "
        "Set max_grad_norm to 0 (torchtune refuses clip_grad_norm with optimizer_in_bwd too)");
  if (s.optimizer_in_bwd && s.gradient_accumulation_steps > 1)
    problems.emplace_back(
        "optimizer_in_bwd cannot accumulate gradients: each micro-batch's backward would update the "
        "parameters. Set gradient_accumulation_steps to 1 and raise the batch size instead");
  if (s.loss_chunks < 0) problems.emplace_back("loss_chunks must not be negative (0 = plain cross-entropy)");
  if (s.nproc_per_node < 1 || s.nproc_per_node > 64)
    problems.emplace_back("nproc_per_node must be from 1 to 64 (ranks on this host)");
  if (s.zero_stage < 0 || s.zero_stage > 2)
    problems.emplace_back(
        "zero_stage must be 0 (state replicated), 1 (state sharded) or 2 (state and gradients)");
  if (s.zero_stage > 0 && s.nproc_per_node < 2)
    problems.emplace_back("zero_stage shards over ranks: set nproc_per_node to 2 or more");
  if (s.zero_stage > 0 && (s.optim.rfind("paged_", 0) == 0 || s.optim.rfind("offload_", 0) == 0))
    problems.push_back(s.optim + " cannot be sharded over ranks: its paged or offloaded state is not split " +
                       "(zero_stage > 0 takes adamw_torch, adamw_torch_fused, adamw_32bit or adamw_8bit)");
  if (s.nproc_per_node > 1 && s.optimizer_in_bwd)
    problems.emplace_back(
        "optimizer_in_bwd updates inside backward, before the ranks' gradients are averaged: "
        "it cannot run with nproc_per_node > 1");
  if (s.device != "cpu" && s.device != "cuda" && s.device.rfind("cuda:", 0) != 0)
    problems.push_back("device must be cpu, cuda or cuda:N, not '" + s.device + "'");
  return problems;
}

std::string to_json(const RunSpec& spec) {
  return to_object(spec).dump(2);
}

std::string to_json(const ComparisonSpec& spec) {
  json j = to_object(spec.base);
  j.erase("optim");
  j["name"] = spec.name;
  j["optims"] = spec.optims;
  return j.dump(2);
}

RunSpec run_spec_from_json(const std::string& text) {
  RunSpec s = from_object(parse(text));
  throw_if_invalid(s);
  return s;
}

ComparisonSpec comparison_spec_from_json(const std::string& text) {
  json j = parse(text);
  if (!j.is_object()) throw SpecError("a comparison spec must be a JSON object");
  ComparisonSpec c;
  read_key(j, "name", c.name);
  if (j.contains("optims")) {
    read_key(j, "optims", c.optims);
  } else if (j.contains("optim")) {
    c.optims = {j["optim"].is_string() ? j["optim"].get<std::string>() : std::string{}};
  }
  j.erase("name");
  j.erase("optims");
  j.erase("optim");
  c.base = from_object(j);
  if (c.optims.empty()) throw SpecError("a comparison needs at least one optimizer in 'optims'");
  for (const auto& o : c.optims) {
    RunSpec run = c.base;
    run.optim = o;
    throw_if_invalid(run);
  }
  return c;
}

ComparisonSpec default_comparison() {
  ComparisonSpec c;
  c.name = "tiny: adamw_torch vs adamw_8bit";
  c.base = RunSpec{};
  c.optims = {"adamw_torch", "adamw_8bit"};
  return c;
}

}  // namespace optiscope
