#include "cli_commands.h"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "checkpoint/gguf_inspect.h"
#include "cli_args.h"
#include "csv_export.h"
#include "engine/comparison_runner.h"
#include "spec/smollm2_comparison.h"
#include "store/ladder_summary.h"
#include "store/run_summary.h"
#include "store/store.h"

namespace optiscope::cli {

const char* const kRunHelp = R"(usage: optiscope-cli run --db FILE [options]

Runs one comparison: the same spec once per optimizer variant, same seed and data order,
and records every step into the store FILE (created if needed).

  --db FILE            store to write (SQLite)
  --spec FILE          comparison spec JSON (TrainingArguments key names); options below override it
  --preset NAME        model preset: tiny, small, llama-3.2-1b, llama-3.2-3b, llama-3.1-8b
  --model PATH         a preset name, a Hugging Face checkpoint folder or a .gguf file
  --dataset FILE       training text: synthetic (default), a .jsonl file or a plain text file
  --eval-split X       fraction of the documents held out for evaluation (0 to 0.5)
  --eval-steps N       evaluation loss every N steps (needs --eval-split)
  --eval-samples N     held-out sequences evaluated each time (max_eval_samples; 0 = all)
  --optim LIST         comma-separated variants, e.g. adamw_torch,adamw_8bit
  --steps N            optimizer steps per variant (max_steps)
  --batch N            per_device_train_batch_size
  --seq-len N          max_seq_length
  --grad-accum N       gradient_accumulation_steps
  --lr X               learning_rate
  --warmup-ratio X     warmup_ratio
  --precision P        fp32, bf16 or fp32_autocast_bf16
  --device D           cpu, cuda or cuda:N
  --budget-gb X        emulate a smaller device: cap memory at X GiB
  --max-grad-norm X    clip gradients to this global norm (max_grad_norm; 0 = no clipping)
  --gradient-checkpointing
                       recompute each layer's activations in backward
  --optimizer-in-bwd   update each parameter as soon as its gradient exists and free the
                       gradient (torchtune's optimizer_in_bwd; needs --max-grad-norm 0)
  --loss-chunks N      fused linear + cross-entropy in N slices of tokens: the logits never all
                       exist, gradients computed in forward (0 = the plain loss)
  --nproc N            data parallel over N ranks of this host, one process each (nproc_per_node;
                       Gloo on the CPU, NCCL on GPUs, rank r on cuda:r); each rank takes its
                       own --batch, so a step sees N times the batch of one process
  --zero-stage S       shard over the ranks: 0 nothing (every rank steps the whole state), 1 the
                       optimizer state, 2 the state and the gradients (zero_stage; needs --nproc 2+)
  --seed N             seed for weights and data order
  --name TEXT          name of the comparison
  --quiet              no progress lines
)";

const char* const kDemoHelp = R"(usage: optiscope-cli demo --db FILE [--model smollm2 [options]] [--quiet]

Runs the built-in default comparison (tiny Llama-style model, synthetic instructions,
adamw_torch vs adamw_8bit, on the CPU) into the store FILE.

--model smollm2 runs the built-in comparison on a real pretrained model instead:
SmolLM2-135M-Instruct (the GGUF file installer/setup.sh fetches into .deps/models) fine-tuned
on Debian's fortunes (.deps/corpus/fortunes.txt), with the article's four variants
adamw_torch, adamw_8bit, paged_adamw_32bit and paged_adamw_8bit, and evaluation loss on a
held-out 5 %. By default a short CPU run (10 steps); the options of `run` (--steps,
--batch, --seq-len, --precision, --device, --eval-steps, --optim, ...) change it, and
--gguf FILE and --dataset FILE name the model and the text when they are elsewhere.
)";

const char* const kExportHelp =
    R"(usage: optiscope-cli export --db FILE --format FORMAT --out FILE [--run ID] [--comparison ID]
                            [--loss-step N]

--format csv writes one row per run and step, with the header
run,comparison,optim,outcome,step,loss,lr,step_ms,tokens,mem_bytes
--format summary-csv writes one row per run: outcome, losses, median step time, tokens/s,
peak device memory by category, paged state on the host, bytes migrated (CUPTI and page manager)
--format summary-md writes the same per-run summary as a Markdown table (sizes in GiB)
--format ladder-json writes every fit ladder in the store as JSON: per rung its outcome
(fits, over_budget, oom, ...), peak demand by category, median step ms and loss
(--loss-step N: the loss after step N instead of the last step)
to --out ("-" for standard output). The output file is only replaced once it is complete.
)";

const char* const kListHelp = R"(usage: optiscope-cli list --db FILE

Lists the comparisons and runs in a store, with their outcome and loss (at the last step and
the mean of the last 10 steps, the figure the GUI's summary and report call final loss).
)";

namespace {

std::atomic<bool> g_cancel{false};

extern "C" void on_interrupt(int) {
  g_cancel.store(true);
}

class ConsoleProgress final : public ComparisonObserver {
 public:
  explicit ConsoleProgress(bool quiet) : quiet_(quiet) {}
  void on_run_started(const RunProgress& p) override {
    if (!quiet_)
      std::fprintf(stderr, "[%d/%d] %s: %lld steps\n", p.run_index + 1, p.run_count, p.optim.c_str(),
                   static_cast<long long>(p.total_steps));
  }
  void on_step(const RunProgress& p) override {
    const std::int64_t every = std::max<std::int64_t>(1, p.total_steps / 10);
    if (!quiet_ && (p.step % every == 0 || p.step == p.total_steps))
      std::fprintf(stderr, "  %-20s step %5lld/%lld  loss %.4f\n", p.optim.c_str(),
                   static_cast<long long>(p.step), static_cast<long long>(p.total_steps), p.loss);
  }
  void on_run_finished(const RunProgress& p, Outcome o, const std::string& detail) override {
    if (!quiet_ || o != Outcome::completed)
      std::fprintf(stderr, "  %s: %s%s%s\n", p.optim.c_str(), to_string(o).c_str(),
                   detail.empty() ? "" : ": ", detail.c_str());
  }

 private:
  bool quiet_;
};

std::string fixed(double v, int digits = 4) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

distributed::RankProgram rank_program() {
  distributed::RankProgram p;
  std::error_code ec;
  // This very executable, whatever it was started as.
  p.exe = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (ec)
    throw std::runtime_error("cannot find this program's executable to start its ranks: " + ec.message());
  p.args = {kRankCommand};
  p.on_started = [](int rank, int pid) {
    std::fprintf(stderr, "optiscope-cli: rank %d started, pid %d\n", rank, pid);
  };
  return p;
}

ComparisonResult run_with_progress(
    const std::function<ComparisonResult(ComparisonObserver*, const std::atomic<bool>*)>& job, bool quiet) {
  ConsoleProgress progress(quiet);
  g_cancel = false;
  auto previous = std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  const ComparisonResult result = job(&progress, &g_cancel);
  std::signal(SIGINT, previous);
  return result;
}

namespace {

int run_and_report(const ComparisonSpec& spec, const std::string& db, bool quiet) {
  const distributed::RankProgram ranks = rank_program();
  const ComparisonResult result = run_with_progress(
      [&](ComparisonObserver* o, const std::atomic<bool>* cancel) {
        return run_comparison(spec, db, o, cancel, &ranks);
      },
      quiet);

  const Store store = Store::open(db, Store::Mode::read_only);
  bool all_completed = true;
  std::printf("comparison %lld \"%s\" in %s\n", static_cast<long long>(result.comparison_id),
              spec.name.c_str(), db.c_str());
  // Each loss says what it is: the GUI's tables and the report show the same figures under the
  // same names (the learning curves draw smoothed lines, which none of these is).
  const std::string mean_header = "mean last " + std::to_string(kFinalLossSteps);
  std::printf("%-22s %-12s %10s %10s %12s %10s %14s\n", "optim", "outcome", "first loss", "last step",
              mean_header.c_str(), "eval loss", "median ms/step");
  for (const auto& id : result.run_ids) {
    const RunSummary s = summarize_run(store, store.run(id));
    const auto loss = [&](double v) { return s.steps > 0 ? fixed(v) : std::string("-"); };
    std::printf("%-22s %-12s %10s %10s %12s %10s %14s\n", s.run.optim.c_str(),
                to_string(s.run.outcome).c_str(), loss(s.first_loss).c_str(), loss(s.last_loss).c_str(),
                loss(s.final_loss).c_str(), s.eval_loss ? fixed(*s.eval_loss).c_str() : "-",
                s.steps > 0 ? fixed(s.median_step_ms, 2).c_str() : "-");
    all_completed = all_completed && s.run.outcome == Outcome::completed;
  }
  if (result.cancelled) return kExitCancelled;
  return all_completed ? kExitOk : kExitVariantFailed;
}

}  // namespace

namespace {

const std::set<std::string> kRunOptions = {
    "--db",         "--spec",         "--preset",        "--model",       "--dataset", "--optim",
    "--steps",      "--batch",        "--seq-len",       "--grad-accum",  "--lr",      "--warmup-ratio",
    "--precision",  "--device",       "--budget-gb",     "--seed",        "--name",    "--eval-split",
    "--eval-steps", "--eval-samples", "--max-grad-norm", "--loss-chunks", "--nproc",   "--zero-stage"};
const std::set<std::string> kRunFlags = {"--quiet", "--gradient-checkpointing", "--optimizer-in-bwd"};

// The options `run` and `demo --model` share, applied over a spec.
void apply_run_options(const Args& a, ComparisonSpec& spec) {
  if (auto v = a.get("--preset")) spec.base.model = *v;
  if (auto v = a.get("--model")) spec.base.model = *v;
  if (auto v = a.get("--dataset")) spec.base.dataset = *v;
  if (auto v = a.get("--optim")) spec.optims = split_list(*v);
  if (auto v = a.get("--steps")) spec.base.max_steps = to_int("--steps", *v);
  if (auto v = a.get("--batch")) spec.base.per_device_train_batch_size = to_int("--batch", *v);
  if (auto v = a.get("--seq-len")) spec.base.max_seq_length = to_int("--seq-len", *v);
  if (auto v = a.get("--grad-accum")) spec.base.gradient_accumulation_steps = to_int("--grad-accum", *v);
  if (auto v = a.get("--lr")) spec.base.learning_rate = to_double("--lr", *v);
  if (auto v = a.get("--warmup-ratio")) spec.base.warmup_ratio = to_double("--warmup-ratio", *v);
  if (auto v = a.get("--precision")) spec.base.precision = *v;
  if (auto v = a.get("--device")) spec.base.device = *v;
  if (auto v = a.get("--seed")) spec.base.seed = static_cast<std::uint64_t>(to_int("--seed", *v));
  if (auto v = a.get("--max-grad-norm")) spec.base.max_grad_norm = to_double("--max-grad-norm", *v);
  if (auto v = a.get("--loss-chunks")) spec.base.loss_chunks = to_int("--loss-chunks", *v);
  if (auto v = a.get("--nproc")) spec.base.nproc_per_node = to_int("--nproc", *v);
  if (auto v = a.get("--zero-stage")) spec.base.zero_stage = to_int("--zero-stage", *v);
  if (a.has("--gradient-checkpointing")) spec.base.gradient_checkpointing = true;
  if (a.has("--optimizer-in-bwd")) spec.base.optimizer_in_bwd = true;
  if (auto v = a.get("--eval-split")) spec.base.eval_split = to_double("--eval-split", *v);
  if (auto v = a.get("--eval-steps")) spec.base.eval_steps = to_int("--eval-steps", *v);
  if (auto v = a.get("--eval-samples")) spec.base.max_eval_samples = to_int("--eval-samples", *v);
  if (auto v = a.get("--budget-gb")) {
    const double gb = to_double("--budget-gb", *v);
    if (gb < 0) throw UsageError("--budget-gb must not be negative");
    spec.base.device_budget_bytes = static_cast<std::uint64_t>(gb * 1024.0 * 1024.0 * 1024.0);
  }
  if (auto v = a.get("--name")) spec.name = *v;
}

// Everything about the spec that can be refused before the store is touched (exit code 2): the
// values, and a GGUF model file read and checked in full (header, geometry, tensors, tokenizer,
// memory) without allocating the model.
void check_before_running(const ComparisonSpec& spec) {
  if (spec.optims.empty()) throw UsageError("--optim needs at least one optimizer");
  for (const auto& o : spec.optims) {
    RunSpec r = spec.base;
    r.optim = o;
    if (auto problems = validate(r); !problems.empty()) throw SpecError(problems.front());
  }
  if (checkpoint::is_gguf_path(spec.base.model)) {
    const auto info = checkpoint::inspect_gguf(spec.base.model);
    (void)tokenizer::bpe_from_gguf_vocab(info.vocab);
  }
}

}  // namespace

int cmd_run(const std::vector<std::string>& argv) {
  const Args a(argv, kRunOptions, kRunFlags);
  ComparisonSpec spec = default_comparison();
  if (auto f = a.get("--spec")) spec = comparison_spec_from_json(read_file(*f));
  apply_run_options(a, spec);
  if (!a.get("--name") && !a.get("--spec")) {
    spec.name = std::filesystem::path(spec.base.model).filename().string() + ": ";
    for (std::size_t i = 0; i < spec.optims.size(); ++i) spec.name += (i ? " vs " : "") + spec.optims[i];
  }
  check_before_running(spec);
  return run_and_report(spec, a.require("--db"), a.has("--quiet"));
}

int cmd_demo(const std::vector<std::string>& argv) {
  std::set<std::string> options = kRunOptions;
  options.insert("--gguf");
  const Args a(argv, options, kRunFlags);
  const auto model = a.get("--model");
  if (!model) {
    for (const auto& o : options)
      if (o != "--db" && a.has(o))
        throw UsageError(o + " needs --model smollm2 (the default demo takes no options)");
    return run_and_report(default_comparison(), a.require("--db"), a.has("--quiet"));
  }
  if (*model != "smollm2") throw UsageError("demo --model knows 'smollm2' only, not '" + *model + "'");
  const auto gguf = a.get("--gguf") ? a.get("--gguf") : find_in_deps("models", kSmollm2ModelFile);
  const auto corpus = a.get("--dataset") ? a.get("--dataset") : find_in_deps("corpus", kSmollm2CorpusFile);
  if (!gguf)
    throw UsageError(std::string("no ") + kSmollm2ModelFile +
                     " in .deps/models (installer/setup.sh fetches it); or name it with --gguf");
  if (!corpus)
    throw UsageError(std::string("no ") + kSmollm2CorpusFile +
                     " in .deps/corpus (installer/setup.sh builds it); or name it with --dataset");
  ComparisonSpec spec = smollm2_comparison(*gguf, *corpus);
  apply_run_options(a, spec);
  spec.base.model = *gguf;  // --model named the built-in comparison, not a file
  check_before_running(spec);
  return run_and_report(spec, a.require("--db"), a.has("--quiet"));
}

int cmd_export(const std::vector<std::string>& argv) {
  const Args a(argv, {"--db", "--format", "--out", "--run", "--comparison", "--loss-step"}, {});
  const std::string format = a.get("--format").value_or("csv");
  if (format != "csv" && format != "summary-csv" && format != "summary-md" && format != "ladder-json")
    throw UsageError("unknown export format '" + format +
                     "' (supported: csv, summary-csv, summary-md, ladder-json)");
  const Store store = Store::open(a.require("--db"), Store::Mode::read_only);
  std::vector<RunInfo> runs = store.runs();
  if (auto v = a.get("--run")) {
    const auto id = to_int("--run", *v);
    std::erase_if(runs, [&](const RunInfo& r) { return r.id != id; });
    if (runs.empty()) throw UsageError("no run " + *v + " in the store");
  }
  if (auto v = a.get("--comparison")) {
    const auto id = to_int("--comparison", *v);
    std::erase_if(runs, [&](const RunInfo& r) { return r.comparison_id != id; });
  }
  const std::string out = a.require("--out");
  auto write = [&](std::ostream& o) {
    if (format == "csv") {
      write_steps_csv(store, runs, o);
    } else if (format == "ladder-json") {
      auto ladders =
          summarize_ladders(store, a.get("--loss-step") ? to_int("--loss-step", *a.get("--loss-step")) : 0);
      if (auto v = a.get("--comparison")) {
        const auto id = to_int("--comparison", *v);
        std::erase_if(ladders, [&](const LadderSummary& l) { return l.comparison.id != id; });
      }
      o << ladders_to_json(ladders) << "\n";
    } else {
      const auto rows = summarize_runs(store, runs);
      o << (format == "summary-csv" ? summaries_to_csv(rows) : summaries_to_markdown(rows));
    }
  };
  if (out == "-") {
    write(std::cout);
    return kExitOk;
  }
  // Written beside the target and renamed at the end: a failure never leaves a half file in place.
  const std::string tmp = out + ".partial";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw std::runtime_error("cannot write " + tmp);
    write(f);
    if (!f.flush()) throw std::runtime_error("writing " + tmp + " failed");
  }
  std::filesystem::rename(tmp, out);
  return kExitOk;
}

int cmd_list(const std::vector<std::string>& argv) {
  const Args a(argv, {"--db"}, {});
  const Store store = Store::open(a.require("--db"), Store::Mode::read_only);
  std::printf("store %s (schema %d)\n", store.path().c_str(), store.schema_version());
  for (const auto& c : store.comparisons()) {
    std::printf("comparison %lld  %s  %s\n", static_cast<long long>(c.id), c.created_at.c_str(),
                c.name.c_str());
    for (const auto& r : store.runs_of(c.id)) {
      const auto steps = store.steps(r.id);
      const auto final_loss = final_loss_of(steps);
      std::printf("  run %-5lld %-22s %-12s steps %-6zu loss: last step %s, mean of last %d %s  %s\n",
                  static_cast<long long>(r.id), r.optim.c_str(), to_string(r.outcome).c_str(), steps.size(),
                  steps.empty() ? "-" : fixed(steps.back().loss).c_str(), kFinalLossSteps,
                  final_loss ? fixed(*final_loss).c_str() : "-", r.device.c_str());
    }
  }
  return kExitOk;
}

}  // namespace optiscope::cli
