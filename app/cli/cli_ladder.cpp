// optiscope-cli ladder: the fit ladder of spec/fit_ladder.h, recorded into a store, then a table of
// what each rung needed against the budget.
#include <cstdio>

#include "cli_args.h"
#include "cli_commands.h"
#include "engine/comparison_runner.h"
#include "estimate/memory_estimate.h"
#include "store/ladder_summary.h"
#include "store/store.h"

namespace optiscope::cli {

const char* const kLadderHelp = R"(usage: optiscope-cli ladder --db FILE --preset NAME --budget-gb X [options]

Records a fit ladder: one run per rung under the device budget X GiB, each rung adding one
memory trick to the one before (torchtune's llama3/8B_full_single_device recipe is the last):
  adamw_torch, adamw_8bit, paged_adamw_8bit, + activation checkpointing,
  + optimizer in backward, + chunked loss (8 chunks)
No rung clips gradients. A rung that runs out of memory is a result; a rung fits only if its
measured peak demand (allocator reserved + paged state resident + context) stays within the budget.

  --db FILE            store to write (SQLite)
  --preset NAME        model preset: tiny, small, llama-3.2-1b, llama-3.2-3b, llama-3.1-8b
  --budget-gb X        the device budget every rung runs under, in GiB
  --steps N            optimizer steps per rung (default 20)
  --batch N            per_device_train_batch_size (default 2, as torchtune's recipe)
  --seq-len N          max_seq_length (default 512)
  --precision P        fp32, bf16 or fp32_autocast_bf16 (default bf16)
  --device D           cpu, cuda or cuda:N (default cuda)
  --lr X               learning_rate (default 2e-5, as torchtune's recipe)
  --seed N             seed for weights and data order
  --name TEXT          name of the ladder
  --resume             continue the store's ladder with the same settings: rungs with a result
                       are kept, the others (cut short, cancelled) are recorded again
  --quiet              no progress lines
exit code 0 when the last rung fits, 3 when it does not (over budget, oom or failed).
)";

int cmd_ladder(const std::vector<std::string>& argv) {
  const Args a(argv,
               {"--db", "--preset", "--budget-gb", "--steps", "--batch", "--seq-len", "--precision",
                "--device", "--lr", "--seed", "--name"},
               {"--quiet", "--resume"});
  RunSpec base;
  base.model = a.require("--preset");
  base.max_steps = 20;
  base.per_device_train_batch_size = 2;
  base.max_seq_length = 512;
  base.precision = "bf16";
  base.device = "cuda";
  base.learning_rate = kLadderLearningRate;
  if (auto v = a.get("--steps")) base.max_steps = to_int("--steps", *v);
  if (auto v = a.get("--batch")) base.per_device_train_batch_size = to_int("--batch", *v);
  if (auto v = a.get("--seq-len")) base.max_seq_length = to_int("--seq-len", *v);
  if (auto v = a.get("--precision")) base.precision = *v;
  if (auto v = a.get("--device")) base.device = *v;
  if (auto v = a.get("--lr")) base.learning_rate = to_double("--lr", *v);
  if (auto v = a.get("--seed")) base.seed = static_cast<std::uint64_t>(to_int("--seed", *v));
  const double gb = to_double("--budget-gb", a.require("--budget-gb"));
  if (!(gb > 0)) throw UsageError("--budget-gb must be positive");
  LadderSpec ladder = standard_fit_ladder(base, static_cast<std::uint64_t>(gb * 1024.0 * 1024.0 * 1024.0));
  if (auto v = a.get("--name")) ladder.name = *v;
  for (const auto& r : ladder.rungs)
    if (auto problems = validate(r.spec); !problems.empty()) throw SpecError(problems.front());

  const std::string db = a.require("--db");
  const ComparisonResult result = run_with_progress(
      [&](ComparisonObserver* o, const std::atomic<bool>* cancel) {
        return run_ladder(ladder, db, o, cancel, a.has("--resume"));
      },
      a.has("--quiet"));

  const Store store = Store::open(db, Store::Mode::read_only);
  const LadderSummary* mine = nullptr;
  const auto ladders = summarize_ladders(store);
  for (const auto& l : ladders)
    if (l.comparison.id == result.comparison_id) mine = &l;
  if (mine == nullptr) throw std::runtime_error("the ladder is missing from " + db);
  std::printf("fit ladder %lld \"%s\" in %s, budget %s\n", static_cast<long long>(result.comparison_id),
              ladder.name.c_str(), db.c_str(),
              estimate::format_bytes(static_cast<double>(ladder.budget_bytes)).c_str());
  std::printf("%-28s %-12s %14s %12s %10s\n", "rung", "outcome", "peak demand", "ms/step", "loss");
  for (const auto& r : mine->rungs) {
    // An OOM before the first step has no samples: what the allocator held when it gave up.
    std::string peak = r.peak ? estimate::format_bytes(static_cast<double>(r.peak_demand)) : "-";
    if (!r.peak && r.run.run.oom_bytes)
      peak = ">" + estimate::format_bytes(static_cast<double>(*r.run.run.oom_bytes));
    std::printf("%-28s %-12s %14s %12.1f %10s\n", r.rung.c_str(), to_string(r.verdict).c_str(), peak.c_str(),
                r.run.median_step_ms, r.loss_after ? std::to_string(*r.loss_after).c_str() : "-");
  }
  if (result.cancelled) return kExitCancelled;
  return !mine->rungs.empty() && mine->rungs.back().verdict == RungVerdict::fits ? kExitOk
                                                                                 : kExitVariantFailed;
}

}  // namespace optiscope::cli
