#include "data/run_data.h"

#include <sqlite3.h>

#include <QDebug>
#include <algorithm>

#include "spec/fit_ladder.h"
#include "spec/run_spec.h"
#include "store/ladder_summary.h"
#include "store/store.h"

namespace optiscope::ui {
namespace {

std::int64_t budgetOf(const RunInfo& run) {
  try {
    return static_cast<std::int64_t>(run_spec_from_json(run.spec_json).device_budget_bytes);
  } catch (const std::exception&) {
    return 0;  // a spec we cannot read has no budget to draw; the rest of the run still shows
  }
}

// Per-cause totals in one grouped query: a recorded run can hold millions of events, and the
// Paging tab needs only their sums. Read through the store's own connection (read-only).
std::vector<UmCauseCount> causeCounts(const Store& store, std::int64_t run_id) {
  std::vector<UmCauseCount> out;
  sqlite3_stmt* stmt = nullptr;
  const char* sql =
      "SELECT kind, cause, count(*), sum(value) FROM um_events WHERE run_id = ? GROUP BY kind, cause";
  if (sqlite3_prepare_v2(store.handle(), sql, -1, &stmt, nullptr) != SQLITE_OK) return out;
  sqlite3_bind_int64(stmt, 1, run_id);
  while (sqlite3_step(stmt) == SQLITE_ROW)
    out.push_back({sqlite3_column_int(stmt, 0), sqlite3_column_int(stmt, 1), sqlite3_column_int64(stmt, 2),
                   sqlite3_column_int64(stmt, 3)});
  sqlite3_finalize(stmt);
  return out;
}

}  // namespace

const MemorySample* RunData::peak() const {
  const auto it = std::max_element(
      memory.begin(), memory.end(),
      [](const MemorySample& a, const MemorySample& b) { return a.device_total() < b.device_total(); });
  return it == memory.end() ? nullptr : &*it;
}

RunData RunData::rankView(int which) const {
  RunData view = *this;
  view.otherRanksMemory.clear();
  if (info.world_size <= 1) return view;
  view.look.label = QStringLiteral("%1 · rank %2").arg(look.label).arg(which);
  view.rank = which;
  if (which > 0) {
    const auto i = static_cast<std::size_t>(which - 1);
    view.memory = i < otherRanksMemory.size() ? otherRanksMemory[i] : std::vector<MemorySample>{};
  }
  return view;
}

void RunDataCache::setStore(const Store* store) {
  store_ = store;
  runs_.clear();
}

void RunDataCache::setRuns(const std::vector<RunInfo>& runs) {
  std::vector<ChartSeries> looks = seriesForRuns(runs);
  // Rungs of fit ladders are named by what they add: several share a variant (paged_adamw_8bit).
  std::vector<QString> rungs(runs.size());
  std::vector<int> rungIndex(runs.size(), -1);
  if (store_) {
    try {
      for (const auto& c : store_->comparisons()) {
        const auto ladder = ladder_from_json(c.spec_json);
        if (!ladder) continue;
        const auto attempts = store_->runs_of(c.id);
        for (std::size_t i = 0; i < runs.size(); ++i) {
          const auto at = static_cast<std::size_t>(runs[i].ordinal);
          if (runs[i].comparison_id != c.id || at >= ladder->rungs.size()) continue;
          rungs[i] = QString::fromStdString(ladder->rungs[at].name);
          // The earlier attempt of a rung recorded again stays a run of its own, named as what it
          // was; the ladder chart shows the latest.
          if (superseded(runs[i], attempts)) {
            rungs[i] += QStringLiteral(" (earlier attempt)");
            continue;
          }
          rungIndex[i] = runs[i].ordinal;
        }
      }
    } catch (const StoreError& e) {
      qWarning() << "cannot read the comparisons:" << e.what();
    }
  }
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (rungs[i].isEmpty()) continue;
    const auto same = std::count(rungs.begin(), rungs.end(), rungs[i]);
    looks[i].label =
        same > 1 ? QStringLiteral("%1 (ladder %2)").arg(rungs[i]).arg(runs[i].comparison_id) : rungs[i];
  }
  std::vector<RunData> next;
  next.reserve(runs.size());
  for (std::size_t i = 0; i < runs.size(); ++i) {
    auto known =
        std::find_if(runs_.begin(), runs_.end(), [&](const RunData& d) { return d.info.id == runs[i].id; });
    RunData d = known != runs_.end() ? std::move(*known) : RunData{};
    d.info = runs[i];
    d.look = looks[i];
    d.budget_bytes = budgetOf(runs[i]);
    d.rung = rungs[i];
    d.rungIndex = rungIndex[i];
    next.push_back(std::move(d));
  }
  runs_ = std::move(next);
}

bool RunDataCache::refresh(unsigned needs) {
  if (!store_) return false;
  bool grew = false;
  for (auto& run : runs_) {
    try {
      if (needs & kSteps) grew |= readSteps(run);
      if (needs & kMemory) grew |= readMemory(run);
      if (needs & kPaging) grew |= readPaging(run);
    } catch (const StoreError& e) {
      // A busy or vanished file must not take the window down; the next refresh tries again.
      qWarning() << "cannot read run" << run.info.id << ":" << e.what();
    }
  }
  return grew;
}

bool RunDataCache::readSteps(RunData& run) {
  const std::int64_t after = run.steps.empty() ? 0 : run.steps.back().step;
  auto fresh = store_->steps(run.info.id, after);
  if (fresh.empty()) return false;
  run.steps.insert(run.steps.end(), fresh.begin(), fresh.end());
  return true;
}

namespace {

// Keeps one sample per step: peaks win over phase ends; among equals the larger total.
void keepStepPeaks(std::vector<MemorySample>& kept, const std::vector<MemorySample>& fresh) {
  for (const auto& s : fresh) {
    if (!kept.empty() && kept.back().step == s.step) {
      MemorySample& k = kept.back();
      const bool better = (s.point == SamplePoint::peak && k.point != SamplePoint::peak) ||
                          (s.point == k.point && s.device_total() > k.device_total());
      if (better) k = s;
    } else {
      kept.push_back(s);
    }
  }
}

}  // namespace

bool RunDataCache::readMemory(RunData& run) {
  const std::int64_t after = run.memory.empty() ? 0 : run.memory.back().step;
  const bool first = !run.memory_loaded;
  run.memory_loaded = true;
  const auto fresh = store_->memory_samples(run.info.id, after);
  keepStepPeaks(run.memory, fresh);
  bool grew = !fresh.empty();
  const int ranks = std::max(1, run.info.world_size);
  run.otherRanksMemory.resize(static_cast<std::size_t>(ranks - 1));
  for (int rank = 1; rank < ranks; ++rank) {
    auto& kept = run.otherRanksMemory[static_cast<std::size_t>(rank - 1)];
    const auto more = store_->memory_samples(run.info.id, kept.empty() ? 0 : kept.back().step, rank);
    keepStepPeaks(kept, more);
    grew |= !more.empty();
  }
  return first || grew;
}

bool RunDataCache::readPaging(RunData& run) {
  const std::int64_t after = run.paging.empty() ? 0 : run.paging.back().step;
  const bool first = !run.paging_loaded;
  run.paging_loaded = true;
  if (first || run.info.outcome == Outcome::running) run.capture = store_->capture(run.info.id);
  auto fresh = store_->paging_steps(run.info.id, after);
  if (first || !fresh.empty()) run.causes = causeCounts(*store_, run.info.id);
  if (fresh.empty()) return first;
  run.paging.insert(run.paging.end(), fresh.begin(), fresh.end());
  return true;
}

}  // namespace optiscope::ui
