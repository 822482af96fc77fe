#pragma once
// Helpers for the reliability tests: scratch folders, child processes (the real optiscope-cli),
// file fingerprints to prove "nothing was overwritten", raw SQLite access and process memory.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "store/store.h"

extern char** environ;

namespace optiscope::reliability {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

/// The optiscope-cli under test; CMake passes its path.
inline std::string cli_path() {
  return OPTISCOPE_CLI_PATH;
}

/// A scratch folder per test, removed afterwards unless the test failed (kept for a post-mortem).
class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name =
        info != nullptr ? std::string(info->test_suite_name()) + "." + info->name() : "scratch";
    for (auto& c : name)
      if (c == '/') c = '_';
    path_ = fs::temp_directory_path() / ("optiscope-rel-" + std::to_string(::getpid()) + "-" + name);
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    if (!::testing::Test::HasFailure()) {
      std::error_code ec;
      fs::remove_all(path_, ec);
    } else {
      std::fprintf(stderr, "kept scratch folder %s\n", path_.c_str());
    }
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// Every file of a folder with its bytes: comparing two snapshots proves nothing was created,
/// removed or changed. The folders here hold a few small files, so bytes are fine as a fingerprint.
/// SQLite's own side files are left out while empty or mere indexes: any reader of a WAL-mode file
/// (the sqlite3 shell too) creates "-shm" and an empty "-wal" beside it. A "-wal" with content is
/// data and is compared.
inline std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const auto name = e.path().filename().string();
    const auto ends_with = [&](const std::string& suffix) {
      return name.size() >= suffix.size() &&
             name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (ends_with("-shm") || (ends_with("-wal") && e.file_size() == 0)) continue;
    files[name] = slurp(e.path().string());
  }
  return files;
}

inline std::string describe_difference(const std::map<std::string, std::string>& before,
                                       const std::map<std::string, std::string>& after) {
  std::string out;
  for (const auto& [name, bytes] : before) {
    const auto it = after.find(name);
    if (it == after.end())
      out += "removed " + name + "; ";
    else if (it->second != bytes)
      out += "changed " + name + "; ";
  }
  for (const auto& [name, bytes] : after)
    if (before.count(name) == 0) out += "created " + name + "; ";
  return out;
}

/// A child process with stdout and stderr captured to files.
class Child {
 public:
  Child(const std::vector<std::string>& args, const std::string& out_path, const std::string& err_path)
      : out_path_(out_path), err_path_(err_path) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("cannot start " + args[0] + ": " + std::strerror(rc));
  }
  ~Child() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  /// Non-blocking: true once the child has ended (and was reaped).
  bool exited() {
    if (status_) return true;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) status_ = st;
    return status_.has_value();
  }
  int wait() {
    if (!status_) {
      int st = 0;
      while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
      status_ = st;
    }
    return *status_;
  }
  /// Waits at most `limit`; kills the child when it overstays (a hang is a failure, not a stall).
  bool wait_for(std::chrono::seconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!exited()) {
      if (std::chrono::steady_clock::now() > end) {
        ::kill(pid_, SIGKILL);
        wait();
        return false;
      }
      std::this_thread::sleep_for(20ms);
    }
    return true;
  }
  void kill9() {
    ::kill(pid_, SIGKILL);
    wait();
  }
  std::string out() const { return slurp(out_path_); }
  std::string err() const { return slurp(err_path_); }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string out_path_;
  std::string err_path_;
};

struct CliResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  std::string out;
  std::string err;
  std::string describe() const {
    return "exit " + std::to_string(exit_code) + (signal != 0 ? " signal " + std::to_string(signal) : "") +
           "\n--- stdout\n" + out + "--- stderr\n" + err;
  }
};

/// Runs optiscope-cli to the end (at most `limit`), capturing its output in `scratch`.
inline CliResult run_cli(const fs::path& scratch, std::vector<std::string> args,
                         std::chrono::seconds limit = std::chrono::seconds(600)) {
  args.insert(args.begin(), cli_path());
  // The output files live beside, not inside, the folder a test fingerprints.
  const auto out = scratch.string() + ".out";
  const auto err = scratch.string() + ".err";
  CliResult r;
  {
    Child child(args, out, err);
    if (!child.wait_for(limit)) {
      r.err = "killed after " + std::to_string(limit.count()) + " s";
      return r;
    }
    const int st = child.wait();
    if (WIFEXITED(st)) r.exit_code = WEXITSTATUS(st);
    if (WIFSIGNALED(st)) r.signal = WTERMSIG(st);
    r.out = child.out();
    r.err = child.err();
  }
  fs::remove(out);
  fs::remove(err);
  return r;
}

/// A raw SQLite connection for building hostile files and checking what the store wrote.
/// Opens `path` every way a program does and reads everything the views read (each comparison's
/// runs, every run's tables); returns the first error message, or "" when the whole file could be
/// read.
inline std::string read_everything(const std::string& path, Store::Mode mode) {
  try {
    const Store s = Store::open(path, mode);
    for (const auto& c : s.comparisons()) (void)s.runs_of(c.id);
    for (const auto& r : s.runs()) {
      (void)s.steps(r.id);
      (void)s.memory_samples(r.id);
      (void)s.memory_samples(r.id, 0, 1);
      (void)s.rank_steps(r.id);
      (void)s.paging_steps(r.id);
      (void)s.um_events(r.id);
      (void)s.capture(r.id);
      (void)s.kernel_summary(r.id);
    }
    return "";
  } catch (const StoreError& e) {
    return e.what();
  }
}

class RawDb {
 public:
  explicit RawDb(const std::string& path, int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) {
    if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK)
      throw std::runtime_error("cannot open " + path + ": " + sqlite3_errmsg(db_));
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;
  sqlite3* get() const { return db_; }

  void exec(const std::string& sql) const {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      const std::string message = err != nullptr ? err : "?";
      sqlite3_free(err);
      throw std::runtime_error(message + " in: " + sql.substr(0, 200));
    }
  }
  /// All rows of a query, each column as text ("NULL" for null), joined by '|'.
  std::vector<std::string> rows(const std::string& sql) const {
    sqlite3_stmt* q = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &q, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string(sqlite3_errmsg(db_)) + " in: " + sql);
    std::vector<std::string> out;
    int rc = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
      std::string row;
      for (int i = 0; i < sqlite3_column_count(q); ++i) {
        const auto* t = sqlite3_column_text(q, i);
        row += (i ? "|" : "") + (t != nullptr ? std::string(reinterpret_cast<const char*>(t)) : "NULL");
      }
      out.push_back(row);
    }
    const std::string error = rc == SQLITE_DONE ? "" : sqlite3_errmsg(db_);
    sqlite3_finalize(q);
    if (!error.empty()) throw std::runtime_error(error + " in: " + sql);
    return out;
  }
  std::string one(const std::string& sql) const {
    const auto r = rows(sql);
    return r.empty() ? "" : r.front();
  }

 private:
  sqlite3* db_ = nullptr;
};

/// PRAGMA integrity_check through a connection that cannot write.
inline std::string integrity(const std::string& path) {
  const RawDb db(path, SQLITE_OPEN_READONLY);
  std::string all;
  for (const auto& r : db.rows("PRAGMA integrity_check")) all += r + "\n";
  return all;
}

/// Resident set size of this process, from /proc.
inline std::int64_t rss_bytes(const char* field = "VmRSS:") {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) {
      std::istringstream ss(line.substr(std::strlen(field)));
      std::int64_t kb = 0;
      ss >> kb;
      return kb * 1024;
    }
  }
  return 0;
}

/// Resets the peak RSS (VmHWM) to the current RSS, so a later peak reading measures one action.
/// Returns false where the kernel does not allow it; callers then fall back to VmRSS.
inline bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  f.flush();
  return static_cast<bool>(f);
}

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif
#else
inline constexpr bool kAddressSanitizer = false;
#endif

/// Memory bounds hold for ordinary builds only: AddressSanitizer keeps freed memory in a 256 MB
/// quarantine and pads every block, so its RSS says nothing about what the code allocates.
inline void expect_rss_growth_below(std::int64_t grew, std::int64_t limit, const std::string& what) {
  std::printf("peak RSS growth %s: %.1f MB (bound %.1f MB%s)\n", what.c_str(),
              static_cast<double>(grew) / 1e6, static_cast<double>(limit) / 1e6,
              kAddressSanitizer ? ", not checked under ASan" : "");
  if (!kAddressSanitizer) {
    EXPECT_LT(grew, limit) << what;
  }
}

/// A pid that certainly belongs to no process now: a child that has ended and been reaped.
inline pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int st = 0;
  ::waitpid(pid, &st, 0);
  return pid;
}

inline std::string hostname() {
  char name[256] = {};
  ::gethostname(name, sizeof name - 1);
  return name;
}

/// Makes a small valid store through the Store API: one comparison, two runs of `steps` steps.
inline std::vector<std::int64_t> make_store(const std::string& path, int steps = 20) {
  Store s = Store::open(path, Store::Mode::read_write);
  const auto cid = s.add_comparison("made by the reliability tests", "{}");
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 2; ++i) {
    const auto id = s.begin_run(cid, i, i == 0 ? "adamw_torch" : "adamw_8bit", "{}", "cpu");
    for (int k = 1; k <= steps; ++k) {
      StepRecord r;
      r.step = k;
      r.loss = 5.0 - 0.01 * k;
      r.lr = 1e-3;
      r.step_ms = 10.0;
      r.tokens = 1024;
      r.mem_bytes = 1 << 20;
      s.append_step(id, r);
    }
    RunInfo info = s.run(id);
    info.outcome = Outcome::completed;
    s.finish_run(info);
    ids.push_back(id);
  }
  return ids;
}

/// Polls `pred` every 50 ms until it holds or `limit` passes.
template <typename Pred>
bool eventually(Pred pred, std::chrono::seconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

}  // namespace optiscope::reliability
