#pragma once
// A store that looks like a GPU comparison of the article's four variants: memory by category with
// paged state (resident and on the host), paging traffic with partial capture, phase timings,
// evaluation loss, a device budget, and one run that ran out of memory. Tests and the screenshot
// script use it; the numbers follow a Llama 3.2 1B fine-tune on a 24 GiB budget.
#include <cmath>
#include <string>
#include <vector>

#include "sample_store.h"

namespace optiscope::test {

inline constexpr std::int64_t kGiB = 1024LL * 1024 * 1024;
inline constexpr std::int64_t kMiB = 1024LL * 1024;

struct RichRun {
  std::string optim;
  int steps;
  bool paged;
  double state_gib;  // optimizer state size
  Outcome outcome = Outcome::completed;
};

inline std::vector<RichRun> richRuns() {
  return {{"adamw_torch", 400, false, 9.2, Outcome::completed},
          {"adamw_8bit", 400, false, 2.4, Outcome::completed},
          {"paged_adamw_32bit", 400, true, 9.2, Outcome::completed},
          {"paged_adamw_8bit", 400, true, 2.4, Outcome::completed},
          {"adamw_32bit", 57, false, 9.2, Outcome::oom}};
}

/// Writes the comparison; returns the run ids in order. `steps_scale` lengthens every run.
inline std::vector<std::int64_t> writeRichComparison(Store& store,
                                                     const std::string& name = "llama-3.2-1b on 24 GiB",
                                                     double steps_scale = 1.0) {
  ComparisonSpec spec;
  spec.name = name;
  spec.base.model = "llama-3.2-1b";
  spec.base.precision = "bf16";
  spec.base.device = "cuda";
  spec.base.per_device_train_batch_size = 4;
  spec.base.max_seq_length = 512;
  spec.base.device_budget_bytes = 24 * kGiB;
  spec.optims.clear();
  for (const auto& r : richRuns()) spec.optims.push_back(r.optim);
  const auto comparison = store.add_comparison(name, to_json(spec));
  std::vector<std::int64_t> ids;
  int ordinal = 0;
  for (const auto& r : richRuns()) {
    RunSpec rs = spec.base;
    rs.optim = r.optim;
    const auto id = store.begin_run(comparison, ordinal, r.optim, to_json(rs), "NVIDIA H100 80GB HBM3");
    CaptureInfo cap;
    cap.um_counters = r.paged;
    cap.kernels = true;
    cap.note = r.paged ? "" : "not a paged variant: no unified-memory traffic expected";
    store.set_capture(id, cap);
    const int steps = static_cast<int>(r.steps * steps_scale);
    const std::int64_t state = static_cast<std::int64_t>(r.state_gib * static_cast<double>(kGiB));
    for (int s = 1; s <= steps; ++s) {
      StepBundle b;
      StepRecord st;
      st.step = s;
      const double x = s / steps_scale;
      st.loss = 1.1 + 0.02 * ordinal + 2.2 * std::exp(-x / 70.0) + 0.05 * std::sin(s * 0.9 + ordinal);
      st.lr = 2e-5;
      st.forward_ms = 21.0 + 0.5 * std::sin(s * 0.3);
      st.backward_ms = 42.0 + 0.8 * std::sin(s * 0.2);
      st.optimizer_ms = (r.state_gib > 5 ? 11.0 : 7.5) + (r.paged ? 6.0 + 4.0 * (s % 10 == 0) : 0.0);
      st.step_ms = *st.forward_ms + *st.backward_ms + *st.optimizer_ms + 2.0;
      st.tokens = 4 * 512;
      if (s % 50 == 0) st.eval_loss = st.loss + 0.08;
      // Paged state: most stays on the device while there is room; the 32-bit state does not fit
      // beside the activations and is partly evicted, so less of it is resident.
      const std::int64_t resident = r.paged ? (r.state_gib > 5 ? 5 * kGiB : state) : 0;
      MemorySample m;
      m.step = s;
      m.phase = Phase::optimizer;
      m.point = SamplePoint::peak;
      m.parameters = 2300 * kMiB;
      m.gradients = 2300 * kMiB;
      m.optimizer_device = r.paged ? 0 : state;
      m.optimizer_paged_resident = resident;
      m.optimizer_paged_host = r.paged ? state - resident : 0;
      m.activations = static_cast<std::int64_t>((6.5 + 0.3 * std::sin(s * 0.5)) * static_cast<double>(kGiB));
      m.allocator_cache = 900 * kMiB;
      m.other_device = 530 * kMiB;
      b.memory.push_back(m);
      if (r.paged) {
        PagingStep p;
        p.step = s;
        const std::int64_t moved = r.state_gib > 5 ? 1200 * kMiB : 60 * kMiB;
        p.manager_htod = moved;
        p.manager_dtoh = moved;
        p.recorded_htod = s % 7 == 0 ? moved / 3 : moved;  // GPU-fault bursts are under-recorded
        p.recorded_dtoh = moved;
        p.gpu_faults = r.state_gib > 5 ? 300 + (s % 13) * 10 : 12;
        p.cpu_faults = 2;
        b.paging.push_back(p);
        for (int e = 0; e < 3; ++e) {
          UmEventRow ev;
          ev.step = s;
          ev.kind = e == 2 ? 1 : 0;
          ev.cause = e == 0 ? 1 : e == 1 ? 2 : 4;
          ev.value = moved / 2;
          b.um_events.push_back(ev);
        }
      }
      b.step = st;
      store.append_bundle(id, b);
    }
    RunInfo info = store.run(id);
    info.outcome = r.outcome;
    if (r.outcome == Outcome::oom) {
      info.oom_step = steps + 1;
      info.oom_bytes = 25 * kGiB + 300 * kMiB;
      info.outcome_detail = "CUDA out of memory (budget 24 GiB)";
    }
    store.finish_run(info);
    ids.push_back(id);
    ++ordinal;
  }
  return ids;
}

}  // namespace optiscope::test
