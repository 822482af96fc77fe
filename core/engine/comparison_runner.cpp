#include "engine/comparison_runner.h"

#include <c10/core/Device.h>

#include "engine/device_runtime.h"
#include "engine/memory_preflight.h"
#include "engine/trainer.h"
#include "store/store.h"

namespace optiscope {

std::string describe_device(const std::string& device) {
  try {
    return engine::device_name(c10::Device(device));
  } catch (const std::exception& e) {
    return device + " (" + e.what() + ")";
  }
}

ComparisonResult run_comparison(const ComparisonSpec& spec, const std::string& store_path,
                                ComparisonObserver* observer, const std::atomic<bool>* cancel) {
  for (const auto& optim : spec.optims) {
    RunSpec run = spec.base;
    run.optim = optim;
    if (const auto problems = validate(run); !problems.empty()) throw SpecError(problems.front());
    engine::refuse_if_model_cannot_fit(run);
  }
  // Everything the store will hold as JSON is rendered before the store is opened: text that is
  // not UTF-8 (a name, a path) is a bad spec, not a half-written store.
  std::string comparison_json;
  std::vector<std::string> run_json;
  try {
    comparison_json = to_json(spec);
    for (const auto& optim : spec.optims) {
      RunSpec run = spec.base;
      run.optim = optim;
      run_json.push_back(to_json(run));
    }
  } catch (const SpecError&) {
    throw;
  } catch (const std::exception& e) {
    throw SpecError(std::string("the spec holds text that is not valid UTF-8 (") + e.what() + ")");
  }
  Store store = Store::open(store_path, Store::Mode::read_write);
  ComparisonResult result;
  result.comparison_id = store.add_comparison(spec.name, comparison_json);
  const std::string device = describe_device(spec.base.device);
  const int count = static_cast<int>(spec.optims.size());
  for (int i = 0; i < count; ++i) {
    RunSpec run = spec.base;
    run.optim = spec.optims[static_cast<std::size_t>(i)];
    RunProgress progress;
    progress.run_index = i;
    progress.run_count = count;
    progress.optim = run.optim;
    progress.comparison_id = result.comparison_id;
    progress.total_steps = run.max_steps;
    progress.run_id = store.begin_run(result.comparison_id, i, run.optim, run_json[static_cast<std::size_t>(i)], device);
    result.run_ids.push_back(progress.run_id);
    if (observer != nullptr) observer->on_run_started(progress);

    struct StoreRecorder final : engine::RunRecorder {
      Store& store;
      RunProgress& progress;
      ComparisonObserver* observer;
      StoreRecorder(Store& s, RunProgress& p, ComparisonObserver* o) : store(s), progress(p), observer(o) {}
      void on_capture(const CaptureInfo& info) override { store.set_capture(progress.run_id, info); }
      void on_bundle(const StepBundle& bundle) override {
        store.append_bundle(progress.run_id, bundle);
        if (!bundle.step) return;
        progress.step = bundle.step->step;
        progress.loss = bundle.step->loss;
        if (observer != nullptr) observer->on_step(progress);
      }
    } recorder(store, progress, observer);
    const auto outcome = engine::train(run, &recorder, cancel);

    RunInfo info = store.run(progress.run_id);
    info.outcome = outcome.outcome;
    info.outcome_detail = outcome.detail;
    info.oom_step = outcome.oom_step;
    info.oom_bytes = outcome.oom_bytes;
    info.over_budget_step = outcome.over_budget_step;
    info.over_budget_bytes = outcome.over_budget_bytes;
    store.finish_run(info);
    result.outcomes.push_back(outcome.outcome);
    if (observer != nullptr) observer->on_run_finished(progress, outcome.outcome, outcome.detail);
    if (outcome.outcome == Outcome::cancelled) {
      result.cancelled = true;
      break;
    }
  }
  return result;
}

}  // namespace optiscope
