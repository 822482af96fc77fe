#include "engine/comparison_runner.h"

#include <c10/core/Device.h>

#include "engine/device_runtime.h"
#include "engine/memory_preflight.h"
#include "engine/trainer.h"
#include "store/store.h"

#include <set>

namespace optiscope {

std::string describe_device(const std::string& device) {
  try {
    return engine::device_name(c10::Device(device));
  } catch (const std::exception& e) {
    return device + " (" + e.what() + ")";
  }
}

namespace {

struct LabelledRun {
  std::string label;  // what progress reports call the run: the variant, or the rung
  RunSpec spec;
};

void refuse_invalid(const std::vector<LabelledRun>& runs) {
  for (const auto& r : runs)
    if (const auto problems = validate(r.spec); !problems.empty()) throw SpecError(problems.front());
  // A model the machine cannot hold is refused before the store is opened (exit 2, no store).
  for (const auto& r : runs) engine::refuse_if_model_cannot_fit(r.spec);
}

template <typename Spec>
std::string spec_json(const Spec& spec) {
  try {
    return to_json(spec);
  } catch (const std::exception& e) {
    throw SpecError(std::string("the spec holds text that is not valid UTF-8 (") + e.what() + ")");
  }
}

// A recorded run whose outcome is a result; the others (running when the process died, interrupted,
// cancelled) are recorded again when a comparison is resumed.
bool has_result(Outcome o) {
  return o == Outcome::completed || o == Outcome::oom || o == Outcome::over_budget || o == Outcome::failed;
}

// Records the runs, one after the other, as one comparison whose spec is `comparison_json`. With
// resume, the store's latest comparison of the same spec is continued instead: runs that have a
// result are kept, the others recorded again under the same ordinal (views keep the latest).
ComparisonResult run_all(const std::string& name, const std::string& comparison_json,
                         const std::vector<LabelledRun>& runs, const std::string& store_path,
                         ComparisonObserver* observer, const std::atomic<bool>* cancel, bool resume = false,
                         const distributed::RankProgram* ranks = nullptr) {
  // Everything the store will hold as JSON is rendered before the store is opened: text that is
  // not UTF-8 (a name, a path) is a bad spec, not a half-written store.
  std::vector<std::string> run_json;
  try {
    for (const auto& r : runs) run_json.push_back(to_json(r.spec));
  } catch (const std::exception& e) {
    throw SpecError(std::string("the spec holds text that is not valid UTF-8 (") + e.what() + ")");
  }
  Store store = Store::open(store_path, Store::Mode::read_write);
  ComparisonResult result;
  std::set<int> recorded;
  if (resume) {
    for (const auto& c : store.comparisons())
      if (c.spec_json == comparison_json) result.comparison_id = c.id;  // the latest
    if (result.comparison_id != 0)
      for (const auto& r : store.runs_of(result.comparison_id))
        if (has_result(r.outcome)) recorded.insert(static_cast<int>(r.ordinal));
  }
  if (result.comparison_id == 0) result.comparison_id = store.add_comparison(name, comparison_json);
  const int count = static_cast<int>(runs.size());
  for (int i = 0; i < count; ++i) {
    if (recorded.count(i) != 0) continue;
    const RunSpec& run = runs[static_cast<std::size_t>(i)].spec;
    RunProgress progress;
    progress.run_index = i;
    progress.run_count = count;
    progress.optim = runs[static_cast<std::size_t>(i)].label;
    progress.comparison_id = result.comparison_id;
    progress.total_steps = run.max_steps;
    progress.run_id = store.begin_run(result.comparison_id, i, run.optim,
                                      run_json[static_cast<std::size_t>(i)], describe_device(run.device));
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
    engine::TrainResult outcome;
    if (run.nproc_per_node > 1) {
      // Ranks are processes: rank 0 appends the steps to this run; progress is read back from the store.
      const auto poll = [&] {
        for (const auto& st : store.steps(progress.run_id, progress.step)) {
          progress.step = st.step;
          progress.loss = st.loss;
          if (observer != nullptr) observer->on_step(progress);
        }
      };
      store.set_run_ranks(progress.run_id, run.nproc_per_node, run.zero_stage);
      if (ranks == nullptr) {
        outcome.outcome = Outcome::failed;
        outcome.detail = "a run over " + std::to_string(run.nproc_per_node) +
                         " ranks starts one process per rank: record it with optiscope-cli run";
      } else {
        outcome = distributed::run_ranks(*ranks, run, run_json[static_cast<std::size_t>(i)], store_path,
                                         progress.run_id, cancel, poll);
      }
    } else {
      outcome = engine::train(run, &recorder, cancel);
    }

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

}  // namespace

ComparisonResult run_comparison(const ComparisonSpec& spec, const std::string& store_path,
                                ComparisonObserver* observer, const std::atomic<bool>* cancel,
                                const distributed::RankProgram* ranks) {
  std::vector<LabelledRun> runs;
  for (const auto& optim : spec.optims) {
    RunSpec run = spec.base;
    run.optim = optim;
    runs.push_back({optim, run});
  }
  refuse_invalid(runs);
  return run_all(spec.name, spec_json(spec), runs, store_path, observer, cancel, false, ranks);
}

ComparisonResult run_ladder(const LadderSpec& ladder, const std::string& store_path,
                            ComparisonObserver* observer, const std::atomic<bool>* cancel, bool resume) {
  std::vector<LabelledRun> runs;
  for (const auto& r : ladder.rungs) runs.push_back({r.name, r.spec});
  refuse_invalid(runs);
  return run_all(ladder.name, spec_json(ladder), runs, store_path, observer, cancel, resume);
}

}  // namespace optiscope
