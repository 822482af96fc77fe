#pragma once
// A sweep: the keys of a run spec, any of which may be a JSON list of values instead of one value,
// plus `name`. The sweep is the Cartesian product of the lists. Runs that differ only in `optim`
// (or `optims`, a comparison spec's key) form one comparison, laid over each other in the views as
// usual; every other combination of values is a comparison of its own, named after what varies.
#include <string>
#include <vector>

#include "spec/run_spec.h"

namespace optiscope {

/// One grid point: one run.
struct SweepRun {
  int index = 0;       // position in the sweep, from 0, in the order the runs are queued
  int comparison = 0;  // index into SweepSpec::comparisons
  int ordinal = 0;     // the variant's position in its comparison
  std::string label;   // what varies, for progress lines: "adamw_8bit lr=0.001 seed=2"
  RunSpec spec;
};

/// Runs that differ only in the optimizer.
struct SweepComparison {
  std::string label;      // the non-optimizer values that vary, "lr=0.001 seed=2"; empty if none
  ComparisonSpec spec;    // name: the sweep's name, then the label
  std::vector<int> runs;  // indices into SweepSpec::runs, in ordinal order
};

struct SweepSpec {
  std::string name = "sweep";
  std::vector<std::string> varying;  // the keys given as lists, in the file's order
  std::vector<SweepComparison> comparisons;
  std::vector<SweepRun> runs;
};

/// The largest grid a sweep spec may expand to.
inline constexpr int kMaxSweepRuns = 10000;

/// Parses, expands and validates every grid point; throws SpecError naming the point and the key.
/// A sweep may not run ranks (nproc_per_node > 1) yet.
SweepSpec sweep_spec_from_json(const std::string& text);

}  // namespace optiscope
