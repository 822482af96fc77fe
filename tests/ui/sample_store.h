#pragma once
// Writes small stores for the GUI tests through the same Store API the engine uses.
#include <QString>
#include <QTemporaryDir>
#include <cmath>
#include <string>
#include <vector>

#include "spec/run_spec.h"
#include "store/store.h"

namespace optiscope::test {

struct SampleRun {
  std::string optim;
  int steps = 300;
  Outcome outcome = Outcome::completed;
};

/// A loss curve that looks like training: fast fall, slow tail, a little noise, and a different
/// level per variant so the curves can be told apart.
inline double sampleLoss(int ordinal, std::int64_t step) {
  const double s = static_cast<double>(step);
  return 1.2 + 0.1 * ordinal + 4.0 * std::exp(-s / 60.0) + 0.04 * std::sin(s * 0.7 + ordinal);
}

inline void appendSteps(Store& store, std::int64_t run_id, int ordinal, std::int64_t from, std::int64_t to) {
  for (std::int64_t s = from; s <= to; ++s) {
    // Named fields: StepRecord grows with the schema, and the tests need only these.
    StepRecord r;
    r.step = s;
    r.loss = sampleLoss(ordinal, s);
    r.lr = 3e-3;
    r.step_ms = 12.5 + ordinal;
    r.tokens = 1024;
    r.mem_bytes = 100'000'000 + s * 1000;
    store.append_step(run_id, r);
  }
}

/// Adds one comparison with the given runs; returns the run ids in order.
inline std::vector<std::int64_t> writeComparison(Store& store, const std::string& name,
                                                 const std::vector<SampleRun>& runs) {
  ComparisonSpec spec;
  spec.name = name;
  spec.optims.clear();
  for (const auto& r : runs) spec.optims.push_back(r.optim);
  const auto comparison = store.add_comparison(name, to_json(spec));
  std::vector<std::int64_t> ids;
  int ordinal = 0;
  for (const auto& r : runs) {
    RunSpec rs = spec.base;
    rs.optim = r.optim;
    const auto id = store.begin_run(comparison, ordinal, r.optim, to_json(rs), "cpu");
    appendSteps(store, id, ordinal, 1, r.steps);
    if (r.outcome != Outcome::running) {
      RunInfo info = store.run(id);
      info.outcome = r.outcome;
      if (r.outcome == Outcome::oom) {
        info.oom_step = r.steps + 1;
        info.oom_bytes = 42'000'000'000;
        info.outcome_detail = "CUDA out of memory";
      }
      store.finish_run(info);
    }
    ids.push_back(id);
    ++ordinal;
  }
  return ids;
}

inline std::string storePathIn(const QTemporaryDir& dir, const char* name = "sample.db") {
  return dir.filePath(QString::fromLatin1(name)).toStdString();
}

}  // namespace optiscope::test
