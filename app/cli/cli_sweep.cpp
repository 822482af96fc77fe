// optiscope-cli sweep: a grid of runs handed from a queue to worker processes (one per GPU, or N on
// the CPU), each worker recording into a store of its own that the sweep merges into the target as
// each run ends. A worker is this same program running `run` on a one-variant comparison, so a
// crash of one run (or of the engine under it) cannot corrupt the target or stop the other runs.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "checkpoint/gguf_inspect.h"
#include "cli_args.h"
#include "cli_commands.h"
#include "engine/memory_preflight.h"
#include "spec/sweep_spec.h"
#include "store/store.h"
#include "store/store_merge.h"
#include "tokenizer/gguf_vocab.h"

extern char** environ;

namespace optiscope::cli {

const char* const kSweepHelp =
    R"(usage: optiscope-cli sweep --spec FILE --store FILE [--gpus LIST | --workers N] [options]

Runs a grid of runs, spread over worker processes, into one store. The sweep spec holds the
keys of a run spec (as for `run --spec`) and a name; any value may be a list instead, and the
sweep is every combination of the lists. Runs that differ only in the optimizer (`optim`, or
`optims`) form one comparison, laid over each other in the GUI; every other combination is a
comparison of its own, named after what varies ("NAME lr=0.001 seed=2"). Every grid point is
checked before anything runs.

Each worker is a process of its own recording one run at a time into its own store in the
work folder; the sweep merges each run into --store as it ends (a GUI with the store open
sees it grow). A run that fails or runs out of memory is recorded like any run; a worker that
crashes gets its run recorded as failed, with the steps it wrote, and the sweep goes on.
Ctrl-C stops the workers: what they recorded is kept (as cancelled), runs not started are
not recorded.

  --spec FILE          sweep spec JSON
  --store FILE         store to write (SQLite; --db is the same)
  --gpus LIST          one worker per GPU, e.g. 0,1: the runs use cuda:0, cuda:1 (overriding
                       the spec's device)
  --workers N          N workers on the CPU (the default is 1); the cores are split between
                       them (OMP_NUM_THREADS)
  --work-dir DIR       where the workers' own stores go (default: a folder beside --store);
                       each run's files are removed once it is merged, and the folder at
                       the end if the sweep made it
  --keep-work          keep the work folder: each worker's store, spec and log
  --status-every S     a status line every S seconds (default 10; 0 = none)
  --quiet              only the runs that did not complete, and the summary

Exit codes as for run: 0 every run completed, 3 a run ended out of memory, over its budget
or failed, 2 bad input (nothing written), 1 store or engine error, 130 interrupted.

Example spec:
  {"name": "lr", "model": "tiny", "max_steps": 50,
   "optim": ["adamw_torch", "adamw_8bit"], "learning_rate": [0.001, 0.003], "seed": [1, 2]}
)";

namespace {

volatile std::sig_atomic_t g_stop_signals = 0;

extern "C" void on_sweep_stop(int) {
  g_stop_signals = g_stop_signals + 1;
}

using Clock = std::chrono::steady_clock;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string seconds_text(Clock::duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", std::chrono::duration<double>(d).count());
  return buf;
}

int usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

std::string last_line_of(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::string last;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  if (last.size() > 300) last = last.substr(0, 300) + "...";
  return last;
}

// What a worker's store holds, read before its run is merged.
struct Peek {
  bool has_run = false;
  std::int64_t last_step = 0;
};

Peek peek(const std::string& db) {
  Peek p;
  if (!std::filesystem::exists(db)) return p;
  try {
    const Store s = Store::open(db, Store::Mode::read_only);
    const auto runs = s.runs();
    if (runs.empty()) return p;
    p.has_run = true;
    sqlite3_stmt* q = nullptr;
    if (sqlite3_prepare_v2(s.handle(), "SELECT COALESCE(MAX(step), 0) FROM steps", -1, &q, nullptr) ==
            SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
      p.last_step = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
  } catch (const std::exception&) {
    // A store the worker never got to write (or left unreadable): no run to merge.
    p = Peek{};
  }
  return p;
}

struct Slot {
  int number = 0;      // 1-based, for messages
  std::string device;  // cuda:N or cpu
  pid_t pid = 0;       // 0 when free
  int run = -1;
  std::string spec_path, db_path, log_path;
  Clock::time_point started;
};

class Sweep {
 public:
  Sweep(const SweepSpec& spec, Store& target, std::string exe, std::filesystem::path work,
        int threads_per_worker, bool quiet)
      : spec_(spec),
        target_(target),
        exe_(std::move(exe)),
        work_(std::move(work)),
        threads_(threads_per_worker),
        quiet_(quiet) {}

  std::vector<Slot> slots;
  bool keep_work = false;
  bool created_work_dir = false;  // the sweep made the work folder, so it removes it (when empty)
  double status_every_s = 10.0;

  /// Runs the whole sweep; returns the exit code.
  int run() {
    std::deque<int> queue;
    for (const auto& r : spec_.runs) queue.push_back(r.index);
    bool stop_sent = false;
    bool kill_sent = false;
    auto next_status = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(status_every_s));
    try {
      for (;;) {
        const int stops = g_stop_signals;
        if (stops > 0 && !stop_sent) {
          stop_sent = true;
          std::fprintf(stderr,
                       "sweep: interrupted; stopping %d running worker(s), %zu queued run(s) not started\n",
                       busy(), queue.size());
          queue.clear();
          signal_workers(SIGTERM);
        }
        if (stops > 1 && !kill_sent) {
          kill_sent = true;
          std::fprintf(stderr, "sweep: interrupted again; killing the workers\n");
          signal_workers(SIGKILL);
        }
        for (auto& s : slots)
          if (s.pid == 0 && !queue.empty() && stops == 0) {
            start(s, queue.front());
            queue.pop_front();
          }
        if (busy() == 0) break;
        for (auto& s : slots) {
          if (s.pid == 0) continue;
          int status = 0;
          const pid_t r = waitpid(s.pid, &status, WNOHANG);
          if (r == s.pid) finished(s, status, stops > 0);
        }
        if (status_every_s > 0 && !quiet_ && Clock::now() >= next_status) {
          print_status(queue.size());
          next_status = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(status_every_s));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    } catch (...) {
      // The target cannot be written (a full disk): stop every worker, leave their stores.
      signal_workers(SIGTERM);
      for (auto& s : slots)
        if (s.pid != 0) waitpid(s.pid, nullptr, 0);
      std::fprintf(stderr, "sweep: stopped; the workers' stores are kept in %s\n", work_.string().c_str());
      throw;
    }
    if (!keep_work && created_work_dir) {
      // Each run's files went as it was merged; a folder that existed before stays.
      std::error_code ec;
      std::filesystem::remove(work_, ec);
    }
    return summarize(stop_sent);
  }

 private:
  int busy() const {
    return static_cast<int>(
        std::count_if(slots.begin(), slots.end(), [](const Slot& s) { return s.pid != 0; }));
  }

  void signal_workers(int sig) {
    for (auto& s : slots)
      if (s.pid != 0) ::kill(s.pid, sig);
  }

  const std::string& label(int run) const { return spec_.runs[static_cast<std::size_t>(run)].label; }
  std::string tag(int run) const {
    return "[" + std::to_string(run + 1) + "/" + std::to_string(spec_.runs.size()) + "]";
  }

  void start(Slot& s, int run) {
    const SweepRun& r = spec_.runs[static_cast<std::size_t>(run)];
    ComparisonSpec one;
    one.name = spec_.comparisons[static_cast<std::size_t>(r.comparison)].spec.name;
    one.base = r.spec;
    one.base.device = s.device;
    one.optims = {r.spec.optim};
    const std::string stem = "run-" + std::to_string(run + 1);
    s.spec_path = (work_ / (stem + ".json")).string();
    s.db_path = (work_ / (stem + ".db")).string();
    s.log_path = (work_ / (stem + ".log")).string();
    for (const auto& suffix : {"", "-wal", "-shm"}) std::filesystem::remove(s.db_path + suffix);
    {
      std::ofstream f(s.spec_path, std::ios::binary | std::ios::trunc);
      f << to_json(one);
      if (!f.flush()) throw std::runtime_error("cannot write " + s.spec_path);
    }
    const std::vector<std::string> argv = {exe_, "run", "--spec", s.spec_path, "--db", s.db_path, "--quiet"};
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string kv = *e;
      if (kv.rfind("OMP_NUM_THREADS=", 0) == 0 || kv.rfind("MKL_NUM_THREADS=", 0) == 0) continue;
      env.push_back(kv);
    }
    env.push_back("OMP_NUM_THREADS=" + std::to_string(threads_));
    env.push_back("MKL_NUM_THREADS=" + std::to_string(threads_));
    s.pid = spawn(argv, env, s.log_path);
    s.run = run;
    s.started = Clock::now();
    if (!quiet_)
      std::fprintf(stderr, "%s start: %s on %s (worker %d, pid %d)\n", tag(run).c_str(), label(run).c_str(),
                   s.device.c_str(), s.number, static_cast<int>(s.pid));
  }

  pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
              const std::string& log) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) throw std::runtime_error("cannot write " + log + ": " + std::strerror(errno));
    const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
      // Only async-signal-safe calls until exec. A group of its own: the terminal's Ctrl-C reaches
      // the sweep alone, which stops its workers itself; and a worker ends if the sweep dies.
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(127);
      if (in >= 0) ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(out, 2);
      ::execve(exe_.c_str(), args.data(), envp.data());
      ::_exit(127);
    }
    const int fork_errno = errno;
    ::close(out);
    if (in >= 0) ::close(in);
    if (pid < 0) throw std::runtime_error(std::string("cannot start a worker: ") + std::strerror(fork_errno));
    return pid;
  }

  std::int64_t comparison_id(int comparison) {
    const auto it = comparison_ids_.find(comparison);
    if (it != comparison_ids_.end()) return it->second;
    const auto& c = spec_.comparisons[static_cast<std::size_t>(comparison)];
    const auto id = target_.add_comparison(c.spec.name, to_json(c.spec));
    comparison_ids_[comparison] = id;
    return id;
  }

  void finished(Slot& s, int status, bool stopping) {
    const int run = s.run;
    const SweepRun& r = spec_.runs[static_cast<std::size_t>(run)];
    const std::string who = "worker " + std::to_string(s.number) + " (" + s.device + ")";
    // How the worker ended when it ended without recording an outcome (empty otherwise), and the
    // last line it printed, which for an exit code is the error's own message.
    std::string crash;
    const bool signaled = WIFSIGNALED(status);
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    const std::string printed = signaled ? std::string() : last_line_of(s.log_path);
    if (signaled) {
      const int sig = WTERMSIG(status);
      crash = who + " ended by signal " + std::to_string(sig) + " (" + sigabbrev(sig) + ")";
    } else if (code != kExitOk && code != kExitVariantFailed && code != kExitCancelled) {
      crash = who + " exited with code " + std::to_string(code);
    }
    const std::string said = printed.empty() ? std::string() : ": " + printed;
    const Peek p = peek(s.db_path);
    std::optional<RunInfo> info;
    if (p.has_run) {
      MergeOptions o;
      o.comparison_id = comparison_id(r.comparison);
      o.ordinal_offset = r.ordinal;
      if (!crash.empty()) {
        o.running_outcome = stopping ? Outcome::cancelled : Outcome::failed;
        o.running_detail = crash +
                           (p.last_step > 0 ? " during step " + std::to_string(p.last_step + 1)
                                            : std::string(" before its first step")) +
                           said;
      } else if (stopping) {
        o.running_outcome = Outcome::cancelled;
        o.running_detail = "the sweep was interrupted";
      } else {
        o.running_outcome = Outcome::failed;
        o.running_detail =
            who + " exited with code " + std::to_string(code) + " leaving its run unfinished" + said;
      }
      const auto merged = merge_store(target_, s.db_path, o);
      if (!merged.empty()) info = target_.run(merged.back().run_id);
    } else if (!(stopping && (signaled || code == kExitCancelled))) {
      // Nothing recorded: the run is still a result of the sweep, a failed one, saying why.
      const std::string detail = (crash.empty() ? who + " exited with code " + std::to_string(code) : crash) +
                                 " before its run began" + said;
      RunSpec as_run = r.spec;
      as_run.device = s.device;
      const auto id =
          target_.begin_run(comparison_id(r.comparison), r.ordinal, r.spec.optim, to_json(as_run), s.device);
      RunInfo failed = target_.run(id);
      failed.outcome = Outcome::failed;
      failed.outcome_detail = detail;
      target_.finish_run(failed);
      info = target_.run(id);
    }
    ++done_;
    const auto took = Clock::now() - s.started;
    if (info) {
      run_ids_[run] = info->id;
      if (!quiet_ || info->outcome != Outcome::completed)
        std::fprintf(stderr, "%s done: %s on %s \xE2\x80\x94 %s, %s%s%s\n", tag(run).c_str(),
                     label(run).c_str(), s.device.c_str(), to_string(info->outcome).c_str(),
                     seconds_text(took).c_str(), info->outcome_detail.empty() ? "" : ": ",
                     info->outcome_detail.c_str());
    } else {
      std::fprintf(stderr, "%s not recorded: %s on %s was stopped before it began\n", tag(run).c_str(),
                   label(run).c_str(), s.device.c_str());
    }
    if (!keep_work)
      for (const auto& path : {s.db_path, s.db_path + "-wal", s.db_path + "-shm", s.spec_path, s.log_path})
        std::filesystem::remove(path);
    s.pid = 0;
    s.run = -1;
  }

  static std::string sigabbrev(int sig) {
    const char* name = ::sigabbrev_np(sig);
    return name != nullptr ? std::string("SIG") + name : "signal " + std::to_string(sig);
  }

  void print_status(std::size_t queued) const {
    std::string running;
    for (const auto& s : slots) {
      if (s.pid == 0) continue;
      const Peek p = peek(s.db_path);
      const auto total = spec_.runs[static_cast<std::size_t>(s.run)].spec.max_steps;
      running += std::string(running.empty() ? "" : "; ") + "worker " + std::to_string(s.number) + " " +
                 label(s.run) + ": " +
                 (p.has_run ? "step " + std::to_string(p.last_step) + "/" + std::to_string(total)
                            : std::string("starting"));
    }
    std::fprintf(stderr, "sweep: %d/%zu done, %d running%s%s%s, %zu queued\n", done_, spec_.runs.size(),
                 busy(), running.empty() ? "" : " (", running.c_str(), running.empty() ? "" : ")", queued);
  }

  int summarize(bool interrupted) {
    const Store& store = target_;
    std::printf("sweep \"%s\" in %s: %d of %zu runs recorded\n", spec_.name.c_str(), store.path().c_str(),
                static_cast<int>(run_ids_.size()), spec_.runs.size());
    bool all_completed = true;
    for (const auto& r : spec_.runs) {
      const auto it = run_ids_.find(r.index);
      if (it == run_ids_.end()) {
        std::printf("  %-5s %-40s %s\n", "-", r.label.c_str(), "not run");
        all_completed = false;
        continue;
      }
      const RunInfo info = store.run(it->second);
      const auto steps = store.steps(it->second);
      char loss[32] = "-";
      if (!steps.empty()) std::snprintf(loss, sizeof loss, "%.4f", steps.back().loss);
      std::printf("  run %-5lld %-40s %-12s steps %-6zu last loss %s\n", static_cast<long long>(it->second),
                  r.label.c_str(), to_string(info.outcome).c_str(), steps.size(), loss);
      all_completed = all_completed && info.outcome == Outcome::completed;
    }
    if (interrupted) return kExitCancelled;
    return all_completed ? kExitOk : kExitVariantFailed;
  }

  const SweepSpec& spec_;
  Store& target_;
  std::string exe_;
  std::filesystem::path work_;
  int threads_;
  bool quiet_;
  std::map<int, std::int64_t> run_ids_;
  std::map<int, std::int64_t> comparison_ids_;
  int done_ = 0;
};

std::vector<int> parse_gpus(const std::string& text) {
  std::vector<int> gpus;
  for (const auto& item : split_list(text)) {
    const int g = to_int("--gpus", item);
    if (g < 0) throw UsageError("--gpus takes GPU numbers from 0, not " + item);
    if (std::find(gpus.begin(), gpus.end(), g) != gpus.end())
      throw UsageError("--gpus names GPU " + item + " twice");
    gpus.push_back(g);
  }
  if (gpus.empty()) throw UsageError("--gpus needs at least one GPU number, e.g. --gpus 0,1");
  return gpus;
}

}  // namespace

int cmd_sweep(const std::vector<std::string>& argv) {
  const Args a(argv, {"--spec", "--store", "--db", "--gpus", "--workers", "--work-dir", "--status-every"},
               {"--quiet", "--keep-work"});
  if (a.get("--store") && a.get("--db")) throw UsageError("--store and --db name the same store: give one");
  const std::string store_path = a.get("--store") ? *a.get("--store") : a.get("--db").value_or("");
  if (store_path.empty()) throw UsageError("missing required option --store");
  if (a.get("--gpus") && a.get("--workers")) throw UsageError("--gpus and --workers exclude each other");
  double status_every = 10.0;
  if (auto v = a.get("--status-every")) {
    status_every = to_double("--status-every", *v);
    if (!(status_every >= 0.0)) throw UsageError("--status-every must not be negative");
  }
  const SweepSpec spec = sweep_spec_from_json(read_text(a.require("--spec")));

  std::vector<std::string> devices;
  if (auto g = a.get("--gpus")) {
    for (const int gpu : parse_gpus(*g)) devices.push_back("cuda:" + std::to_string(gpu));
  } else {
    int workers = 1;
    if (auto w = a.get("--workers")) {
      workers = to_int("--workers", *w);
      if (workers < 1 || workers > 256) throw UsageError("--workers must be from 1 to 256");
    }
    for (const auto& r : spec.runs)
      if (r.spec.device != "cpu")
        throw UsageError("sweep point " + std::to_string(r.index + 1) + " of " +
                         std::to_string(spec.runs.size()) + " (" + r.label + ") asks for device " +
                         r.spec.device + ": name its GPUs with --gpus (--workers runs on the CPU)");
    // No more workers than runs: the cores are split between the workers that have work.
    devices.assign(std::min(static_cast<std::size_t>(workers), spec.runs.size()), "cpu");
  }
  // What `run` would refuse is refused here, for every point, before anything runs: the model's
  // fit on this host for CPU runs; for GPU runs only what needs no device (the parent makes no
  // CUDA context).
  for (const auto& r : spec.runs) {
    RunSpec as_run = r.spec;
    as_run.device = devices[static_cast<std::size_t>(r.index) % devices.size()];
    try {
      if (as_run.device == "cpu") {
        engine::refuse_if_model_cannot_fit(as_run);
      } else if (const auto refusal = engine::refusal_without_device(as_run); !refusal.empty()) {
        throw SpecError(refusal);
      }
    } catch (const SpecError& e) {
      throw SpecError("sweep point " + std::to_string(r.index + 1) + " of " +
                      std::to_string(spec.runs.size()) + " (" + r.label + "): " + e.what());
    }
  }
  // A GGUF model is read and checked in full before anything runs, as `run` does.
  std::vector<std::string> checked;
  for (const auto& r : spec.runs) {
    if (!checkpoint::is_gguf_path(r.spec.model) ||
        std::find(checked.begin(), checked.end(), r.spec.model) != checked.end())
      continue;
    const auto info = checkpoint::inspect_gguf(r.spec.model);
    (void)tokenizer::bpe_from_gguf_vocab(info.vocab);
    checked.push_back(r.spec.model);
  }

  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot find this program's own file to start workers: " + ec.message());

  Store target = Store::open(store_path, Store::Mode::read_write);
  const std::filesystem::path target_file = std::filesystem::absolute(store_path);
  const std::filesystem::path work =
      a.get("--work-dir") ? std::filesystem::path(*a.get("--work-dir"))
                          : target_file.parent_path() /
                                (target_file.filename().string() + ".sweep-" + std::to_string(::getpid()));
  // A folder that was there before is left in place at the end; only the sweep's files go.
  const bool created_work_dir = std::filesystem::create_directories(work);

  const int threads = std::max(1, usable_cores() / static_cast<int>(devices.size()));
  Sweep sweep(spec, target, exe.string(), work, threads, a.has("--quiet"));
  sweep.keep_work = a.has("--keep-work");
  sweep.created_work_dir = created_work_dir;
  sweep.status_every_s = status_every;
  for (std::size_t i = 0; i < devices.size(); ++i) {
    Slot s;
    s.number = static_cast<int>(i + 1);
    s.device = devices[i];
    sweep.slots.push_back(s);
  }
  if (!a.has("--quiet"))
    std::fprintf(stderr,
                 "sweep \"%s\": %zu runs in %zu comparisons on %zu worker(s) (%s), %d thread(s) each\n",
                 spec.name.c_str(), spec.runs.size(), spec.comparisons.size(), devices.size(),
                 devices.front().c_str(), threads);

  g_stop_signals = 0;
  struct sigaction act {};
  act.sa_handler = on_sweep_stop;
  sigemptyset(&act.sa_mask);
  struct sigaction old_int {};
  struct sigaction old_term {};
  sigaction(SIGINT, &act, &old_int);
  sigaction(SIGTERM, &act, &old_term);
  int rc = kExitError;
  try {
    rc = sweep.run();
  } catch (const std::exception& e) {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
    // Whatever failed here is the store's or the machine's, not the input's.
    throw std::runtime_error(e.what());
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  return rc;
}

}  // namespace optiscope::cli
