#include "importers/trainer_state.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "store/store.h"

namespace optiscope::importers {
namespace {

using nlohmann::json;

constexpr std::uintmax_t kMaxFileBytes = 256ull * 1024 * 1024;

// Python's json.dump writes the bare words NaN, Infinity and -Infinity, which JSON (and
// nlohmann::json) rejects; a diverged run's trainer_state.json has them. Outside strings they
// become null, which the reader below counts as a non-finite value.
std::string without_python_nonfinite(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      out += c;
    } else if (text.compare(i, 3, "NaN") == 0) {
      out += "null";
      i += 2;
    } else if (text.compare(i, 8, "Infinity") == 0) {
      out += "null";
      i += 7;
    } else if (text.compare(i, 9, "-Infinity") == 0) {
      out += "null";
      i += 8;
    } else {
      out += c;
    }
  }
  return out;
}

std::string where(std::size_t index, const char* key) {
  return "log_history[" + std::to_string(index) + "]." + key;
}

// A whole number, also when written as 10.0 (some loggers turn every value into a float).
std::int64_t whole_number(const json& v, const std::string& what) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(INT64_MAX)) throw ImportError(what + " is too large: " + v.dump());
    return static_cast<std::int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) return static_cast<std::int64_t>(d);
  }
  throw ImportError(what + " must be a whole number, not " + v.dump());
}

std::optional<double> optional_number(const json& entry, const char* key, std::size_t index) {
  const auto it = entry.find(key);
  if (it == entry.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) throw ImportError(where(index, key) + " must be a number, not " + it->dump());
  return it->get<double>();
}

std::optional<std::int64_t> optional_whole(const json& object, const char* key, const std::string& what) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  return whole_number(*it, what);
}

}  // namespace

TrainerStateData parse_trainer_state(const std::string& text, const std::string& source_path) {
  const std::string name = source_path.empty() ? std::string("the trainer state") : source_path;
  json root;
  try {
    root = json::parse(without_python_nonfinite(text));
  } catch (const json::parse_error& e) {
    throw ImportError(name + " is not valid JSON (" + e.what() + ")");
  }
  if (!root.is_object())
    throw ImportError(name + " is not a Trainer state: its top level must be a JSON object");
  const auto history = root.find("log_history");
  if (history == root.end() || !history->is_array())
    throw ImportError(
        name + " has no log_history list: is it a trainer_state.json written by transformers.Trainer?");

  TrainerStateData data;
  data.source_path = source_path;
  data.log_entries = history->size();
  data.max_steps = optional_whole(root, "max_steps", "max_steps");
  data.logging_steps = optional_whole(root, "logging_steps", "logging_steps");
  if (const auto args = root.find("args"); args != root.end() && args->is_object()) {
    if (const auto optim = args->find("optim"); optim != args->end() && optim->is_string())
      data.optim = optim->get<std::string>();
  }

  std::map<std::int64_t, StepRecord> steps;
  std::map<std::int64_t, double> evals;
  // Cumulative tokens at each logged step, to turn num_input_tokens_seen into tokens per step.
  std::map<std::int64_t, std::int64_t> tokens_seen;
  for (std::size_t i = 0; i < history->size(); ++i) {
    const json& entry = (*history)[i];
    if (!entry.is_object())
      throw ImportError(name + ": log_history[" + std::to_string(i) + "] is not an object");
    const bool has_loss = entry.contains("loss");
    const bool has_eval = entry.contains("eval_loss");
    if (entry.contains("train_runtime")) {
      data.train_runtime_s = optional_number(entry, "train_runtime", i);
      data.train_samples_per_second = optional_number(entry, "train_samples_per_second", i);
      data.train_steps_per_second = optional_number(entry, "train_steps_per_second", i);
      data.train_loss = optional_number(entry, "train_loss", i);
      data.total_flos = optional_number(entry, "total_flos", i);
      if (data.train_runtime_s && !(*data.train_runtime_s >= 0.0))
        throw ImportError(name + ": " + where(i, "train_runtime") + " must not be negative");
    }
    if (!has_loss && !has_eval) continue;  // summaries and custom metrics carry nothing per step
    const auto step_it = entry.find("step");
    if (step_it == entry.end())
      throw ImportError(name + ": " + where(i, "step") + " is missing (every loss entry names its step)");
    const std::int64_t step = whole_number(*step_it, name + ": " + where(i, "step"));
    if (has_loss) {
      if (step < 1)
        throw ImportError(name + ": " + where(i, "step") + " of a training loss must be at least 1");
      const auto loss = optional_number(entry, "loss", i);
      if (!loss || !std::isfinite(*loss)) {
        ++data.nonfinite_losses;
      } else {
        StepRecord r;
        r.step = step;
        r.loss = *loss;
        r.lr = optional_number(entry, "learning_rate", i).value_or(0.0);
        if (!std::isfinite(r.lr)) r.lr = 0.0;
        if (steps.count(step) != 0) ++data.repeated_steps;
        steps[step] = r;
      }
      if (const auto seen =
              optional_whole(entry, "num_input_tokens_seen", name + ": " + where(i, "num_input_tokens_seen")))
        tokens_seen[step] = *seen;
    }
    if (has_eval) {
      const auto eval = optional_number(entry, "eval_loss", i);
      if (eval && std::isfinite(*eval)) evals[step] = *eval;
    }
  }
  if (steps.empty()) {
    throw ImportError(
        name + " has no finite training loss in its log_history (" + std::to_string(data.log_entries) +
        " entries" +
        (data.nonfinite_losses ? ", " + std::to_string(data.nonfinite_losses) + " NaN or infinite" : "") +
        "): nothing to import");
  }
  for (const auto& [step, loss] : evals) {
    const auto it = steps.find(step);
    if (it == steps.end()) {
      ++data.eval_without_train_log;
    } else {
      it->second.eval_loss = loss;
      ++data.eval_points;
    }
  }

  data.global_step = optional_whole(root, "global_step", "global_step").value_or(steps.rbegin()->first);
  if (data.global_step < steps.rbegin()->first) data.global_step = steps.rbegin()->first;
  // The Trainer logs only the whole run's time: every step gets the mean, so total time and
  // tokens per second compare with Optiscope's runs even though step-to-step variation is lost.
  const double step_ms = data.train_runtime_s && data.global_step > 0
                             ? *data.train_runtime_s * 1000.0 / static_cast<double>(data.global_step)
                             : 0.0;
  std::optional<std::pair<std::int64_t, std::int64_t>> previous_seen;
  for (auto& [step, r] : steps) {
    r.step_ms = step_ms;
    if (const auto it = tokens_seen.find(step); it != tokens_seen.end()) {
      const auto [prev_step, prev_seen] =
          previous_seen.value_or(std::make_pair<std::int64_t, std::int64_t>(0, 0));
      if (step > prev_step && it->second >= prev_seen)
        r.tokens = (it->second - prev_seen) / (step - prev_step);
      previous_seen = std::make_pair(step, it->second);
    }
    data.steps.push_back(r);
  }
  return data;
}

TrainerStateData read_trainer_state(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw ImportError("no such file: " + path);
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw ImportError("cannot read " + path + ": " + ec.message());
  if (size > kMaxFileBytes) throw ImportError(path + " is larger than 256 MiB: not a trainer_state.json");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ImportError("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in && !in.eof()) throw ImportError("cannot read " + path);
  return parse_trainer_state(text.str(), path);
}

std::string resolve_optim(const TrainerStateData& data, const TrainerStateImportOptions& options) {
  const std::string optim = options.optim.empty() ? data.optim : options.optim;
  if (optim.empty())
    throw ImportError((data.source_path.empty() ? std::string("the trainer state") : data.source_path) +
                      " does not say which optimizer it used (no args.optim): give it with --optim, "
                      "e.g. --optim adamw_8bit");
  if (!plausible_optim_name(optim))
    throw ImportError("'" + optim +
                      "' is not an optimizer name (letters, digits, '_', '-', '.'; at most 64)");
  return optim;
}

ImportResult write_trainer_state(Store& store, const TrainerStateData& data,
                                 const TrainerStateImportOptions& options) {
  const std::string optim = resolve_optim(data, options);
  const std::string label =
      data.source_path.empty() ? std::string("trainer_state.json") : file_label(data.source_path);
  const std::string name = options.name.empty() ? "HF Trainer: " + label + " (" + optim + ")" : options.name;

  // Deliberately not a RunSpec: the file does not say which model, data or schedule ran, and a
  // reader must not show Optiscope's defaults in their place.
  json run_spec{{"imported_from", "hf_trainer_state"},
                {"source_file", data.source_path},
                {"optim", optim},
                {"global_step", data.global_step},
                {"log_entries", data.log_entries}};
  const auto put = [&](const char* key, const auto& v) {
    if (v) run_spec[key] = *v;
  };
  put("max_steps", data.max_steps);
  put("logging_steps", data.logging_steps);
  put("train_runtime_s", data.train_runtime_s);
  put("train_samples_per_second", data.train_samples_per_second);
  put("train_steps_per_second", data.train_steps_per_second);
  put("train_loss", data.train_loss);
  put("total_flos", data.total_flos);
  const json comparison_spec{{"imported_from", "hf_trainer_state"},
                             {"source_file", data.source_path},
                             {"optims", json::array({optim})}};

  ImportResult result;
  WriteTransaction tx(store);
  result.comparison_id = store.add_comparison(name, comparison_spec.dump(2));
  result.run_id = store.begin_run(result.comparison_id, 0, optim, run_spec.dump(2), "imported");
  for (const auto& s : data.steps) store.append_step(result.run_id, s);
  RunInfo finished;
  finished.id = result.run_id;
  finished.outcome = Outcome::completed;
  store.finish_run(finished);
  tx.commit();
  result.created_run = true;

  std::ostringstream s;
  s << "imported " << label << " as comparison " << result.comparison_id << " \"" << name << "\", run "
    << result.run_id << " (" << optim << ", device imported)\n";
  s.setf(std::ios::fixed);
  s.precision(4);
  s << "  " << data.steps.size() << " logged steps, loss " << data.steps.front().loss << " at step "
    << data.steps.front().step << " to " << data.steps.back().loss << " at step " << data.steps.back().step
    << "\n";
  s.precision(1);
  s << "  " << data.eval_points << " evaluation losses";
  if (data.eval_without_train_log)
    s << " (" << data.eval_without_train_log << " more at steps with no training log, not stored)";
  s << "\n";
  if (data.train_runtime_s)
    s << "  step time " << data.steps.front().step_ms << " ms: train_runtime " << *data.train_runtime_s
      << " s over " << data.global_step << " steps (the Trainer logs no per-step time)\n";
  else
    s << "  no train_runtime in the file: step times are 0\n";
  if (data.nonfinite_losses) s << "  " << data.nonfinite_losses << " NaN or infinite losses, not stored\n";
  if (data.repeated_steps)
    s << "  " << data.repeated_steps << " steps logged twice (resumed training?): the last kept\n";
  result.summary = s.str();
  return result;
}

}  // namespace optiscope::importers
