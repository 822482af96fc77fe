#include "spec/sweep_spec.h"

#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <utility>

namespace optiscope {
namespace {

// The file's own key order names the comparisons, so the order is kept.
using ordered = nlohmann::ordered_json;

// Shorter names in labels for the keys people sweep most; the others keep their spec name.
std::string short_key(const std::string& key) {
  static const std::map<std::string, std::string> names = {
      {"learning_rate", "lr"},           {"per_device_train_batch_size", "batch"},
      {"max_seq_length", "seq_len"},     {"gradient_accumulation_steps", "grad_accum"},
      {"device_budget_bytes", "budget"}, {"max_steps", "steps"}};
  const auto it = names.find(key);
  return it == names.end() ? key : it->second;
}

std::string value_text(const ordered& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::string point_text(int index, int count, const std::string& label) {
  return "sweep point " + std::to_string(index + 1) + " of " + std::to_string(count) +
         (label.empty() ? std::string() : " (" + label + ")");
}

struct Dimension {
  std::string key;
  std::vector<ordered> values;
};

}  // namespace

SweepSpec sweep_spec_from_json(const std::string& text) {
  ordered j;
  try {
    j = ordered::parse(text);
  } catch (const ordered::exception& e) {
    throw SpecError(std::string("sweep spec is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) throw SpecError("a sweep spec must be a JSON object");

  SweepSpec sweep;
  if (const auto it = j.find("name"); it != j.end()) {
    if (!it->is_string()) throw SpecError("sweep spec key 'name' must be text, not " + it->dump());
    sweep.name = it->get<std::string>();
  }
  if (j.contains("optim") && j.contains("optims"))
    throw SpecError("a sweep spec names its optimizers once: 'optim' or 'optims', not both");

  // Scalars go into every point; lists become dimensions. The optimizer is the innermost dimension
  // whatever its place in the file: a comparison's variants are consecutive runs.
  ordered base = ordered::object();
  std::vector<Dimension> dims;
  Dimension optim_dim{"optim", {}};
  for (const auto& [key, value] : j.items()) {
    if (key == "name") continue;
    const std::string spec_key = key == "optims" ? "optim" : key;
    if (!value.is_array()) {
      if (key == "optims") throw SpecError("sweep spec key 'optims' must be a list of optimizer names");
      base[spec_key] = value;
      continue;
    }
    if (value.empty())
      throw SpecError("sweep spec key '" + key + "' is an empty list: a dimension needs a value");
    Dimension d{spec_key, {}};
    for (const auto& v : value) {
      if (v.is_array() || v.is_object())
        throw SpecError("sweep spec key '" + key + "' lists " + v.dump() +
                        ": each value must be a plain value");
      for (const auto& seen : d.values)
        if (seen == v) throw SpecError("sweep spec key '" + key + "' lists " + v.dump() + " twice");
      d.values.push_back(v);
    }
    if (spec_key == "optim") {
      optim_dim = std::move(d);
    } else {
      sweep.varying.push_back(key);
      dims.push_back(std::move(d));
    }
  }
  if (optim_dim.values.empty())
    optim_dim.values.push_back(base.contains("optim") ? base["optim"] : ordered(RunSpec{}.optim));
  base.erase("optim");
  if (optim_dim.values.size() > 1) sweep.varying.push_back("optim");

  // Size first, so a grid of a billion points is refused before it is built (each factor is at
  // least 1, so checking after each product cannot overflow).
  std::size_t total = optim_dim.values.size();
  for (const auto& d : dims) {
    total *= d.values.size();
    if (total > static_cast<std::size_t>(kMaxSweepRuns)) break;
  }
  if (total > static_cast<std::size_t>(kMaxSweepRuns))
    throw SpecError("the sweep expands to more than " + std::to_string(kMaxSweepRuns) + " runs");
  const int count = static_cast<int>(total);

  std::size_t combos = 1;
  for (const auto& d : dims) combos *= d.values.size();
  for (std::size_t c = 0; c < combos; ++c) {
    // Odometer over the dimensions, the last key changing fastest.
    ordered point = base;
    std::string label;
    std::size_t rest = c;
    std::vector<std::size_t> pick(dims.size());
    for (std::size_t k = dims.size(); k-- > 0;) {
      pick[k] = rest % dims[k].values.size();
      rest /= dims[k].values.size();
    }
    for (std::size_t k = 0; k < dims.size(); ++k) {
      const ordered& v = dims[k].values[pick[k]];
      point[dims[k].key] = v;
      label += (label.empty() ? "" : " ") + short_key(dims[k].key) + "=" + value_text(v);
    }

    SweepComparison comparison;
    comparison.label = label;
    comparison.spec.name = label.empty() ? sweep.name : sweep.name + " " + label;
    comparison.spec.optims.clear();
    const int comparison_index = static_cast<int>(sweep.comparisons.size());
    for (std::size_t o = 0; o < optim_dim.values.size(); ++o) {
      SweepRun run;
      run.index = static_cast<int>(sweep.runs.size());
      run.comparison = comparison_index;
      run.ordinal = static_cast<int>(o);
      ordered one = point;
      one["optim"] = optim_dim.values[o];
      const std::string optim_text = value_text(optim_dim.values[o]);
      run.label = label.empty() ? optim_text : optim_text + " " + label;
      try {
        run.spec = run_spec_from_json(nlohmann::json::parse(one.dump()).dump());
      } catch (const SpecError& e) {
        throw SpecError(point_text(run.index, count, run.label) + ": " + e.what());
      } catch (const std::exception& e) {
        // Text that is not UTF-8 cannot be dumped: the spec is bad, not the program.
        throw SpecError(point_text(run.index, count, run.label) + ": " + e.what());
      }
      if (run.spec.nproc_per_node > 1)
        throw SpecError(
            point_text(run.index, count, run.label) + ": nproc_per_node " +
            std::to_string(run.spec.nproc_per_node) +
            " is not supported in a sweep yet (a sweep runs one process per run); record runs over "
            "several ranks with `optiscope-cli run --nproc`");
      if (o == 0) comparison.spec.base = run.spec;
      comparison.spec.optims.push_back(run.spec.optim);
      comparison.runs.push_back(run.index);
      sweep.runs.push_back(std::move(run));
    }
    sweep.comparisons.push_back(std::move(comparison));
  }
  return sweep;
}

}  // namespace optiscope
