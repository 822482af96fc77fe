#include "distributed/launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace optiscope::distributed {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

// A port free on 127.0.0.1 now (the kernel's choice); rank 0's TCPStore binds it a moment later.
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string why = std::strerror(errno);
    close(fd);
    throw std::runtime_error("no free port on 127.0.0.1 for the ranks' rendezvous: " + why);
  }
  close(fd);
  return ntohs(addr.sin_port);
}

std::string how_it_ended(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = sigabbrev_np(sig);
    return "was killed by signal " + std::to_string(sig) +
           (name != nullptr ? std::string(" (SIG") + name + ")" : "");
  }
  return "exited with status " + std::to_string(WEXITSTATUS(status)) + " without a result";
}

struct Rank {
  pid_t pid = -1;
  bool running = false;
  int status = 0;
  std::string result_path;
};

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "optiscope-ranks-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr)
      throw std::runtime_error("cannot make a folder for the ranks' results");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

}  // namespace

void write_rank_result(const std::string& path, const engine::TrainResult& r) {
  nlohmann::json j = {{"outcome", to_string(r.outcome)}, {"detail", r.detail}, {"steps_done", r.steps_done}};
  if (r.oom_step) j["oom_step"] = *r.oom_step;
  if (r.oom_bytes) j["oom_bytes"] = *r.oom_bytes;
  if (r.over_budget_step) j["over_budget_step"] = *r.over_budget_step;
  if (r.over_budget_bytes) j["over_budget_bytes"] = *r.over_budget_bytes;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (!out.flush()) throw std::runtime_error("cannot write the rank's result to " + tmp);
  }
  fs::rename(tmp, path);
}

bool read_rank_result(const std::string& path, engine::TrainResult& r) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  try {
    const auto j = nlohmann::json::parse(in);
    r.outcome = outcome_from_string(j.at("outcome").get<std::string>());
    r.detail = j.value("detail", "");
    r.steps_done = j.value("steps_done", std::int64_t{0});
    if (j.contains("oom_step")) r.oom_step = j["oom_step"].get<std::int64_t>();
    if (j.contains("oom_bytes")) r.oom_bytes = j["oom_bytes"].get<std::int64_t>();
    if (j.contains("over_budget_step")) r.over_budget_step = j["over_budget_step"].get<std::int64_t>();
    if (j.contains("over_budget_bytes")) r.over_budget_bytes = j["over_budget_bytes"].get<std::int64_t>();
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

engine::TrainResult run_ranks(const RankProgram& program, const RunSpec& spec, const std::string& spec_json,
                              const std::string& store_path, std::int64_t run_id,
                              const std::atomic<bool>* cancel, const std::function<void()>& poll) {
  const int world = spec.nproc_per_node;
  TempDir dir;
  const std::string spec_file = (dir.path() / "spec.json").string();
  {
    std::ofstream out(spec_file, std::ios::binary);
    out << spec_json;
    if (!out.flush()) throw std::runtime_error("cannot write " + spec_file);
  }
  const int port = free_port();
  std::vector<Rank> ranks(static_cast<std::size_t>(world));
  // The first rank that ends badly is the run's outcome; then the others are stopped.
  std::optional<engine::TrainResult> cause;
  std::optional<Clock::time_point> kill_at;
  bool cancelling = false;
  const auto stop_all = [&](int seconds) {
    for (auto& r : ranks)
      if (r.running) kill(r.pid, SIGTERM);
    const auto at = Clock::now() + std::chrono::seconds(seconds);
    if (!kill_at || at < *kill_at) kill_at = at;
  };

  for (int r = 0; r < world; ++r) {
    Rank& rank = ranks[static_cast<std::size_t>(r)];
    rank.result_path = (dir.path() / ("rank-" + std::to_string(r) + ".json")).string();
    std::vector<std::string> args = {program.exe};
    args.insert(args.end(), program.args.begin(), program.args.end());
    for (const auto& a : {std::string("--spec-file"), spec_file, std::string("--rank"), std::to_string(r),
                          std::string("--world"), std::to_string(world), std::string("--port"),
                          std::to_string(port), std::string("--result"), rank.result_path,
                          std::string("--timeout-s"), std::to_string(program.timeout_s)})
      args.push_back(a);
    // Rank r on GPU r (torchrun's LOCAL_RANK): a cuda run's ranks each take one card.
    if (spec.device.rfind("cuda", 0) == 0) {
      args.push_back("--device");
      args.push_back("cuda:" + std::to_string(r));
    }
    if (r == 0 && !store_path.empty()) {
      args.insert(args.end(), {"--db", store_path, "--run-id", std::to_string(run_id)});
    }
    if (!program.save_parameters.empty()) {
      args.push_back("--save-params");
      args.push_back(program.save_parameters + ".rank" + std::to_string(r));
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, program.exe.c_str(), nullptr, nullptr, argv.data(), environ);
    if (rc != 0) {
      engine::TrainResult failed;
      failed.outcome = Outcome::failed;
      failed.detail =
          "rank " + std::to_string(r) + " could not be started (" + program.exe + "): " + std::strerror(rc);
      cause = failed;
      stop_all(3);
      break;
    }
    rank.pid = pid;
    rank.running = true;
    if (program.on_started) program.on_started(r, static_cast<int>(pid));
  }

  auto last_poll = Clock::now();
  for (;;) {
    bool any_running = false;
    for (int r = 0; r < world; ++r) {
      Rank& rank = ranks[static_cast<std::size_t>(r)];
      if (!rank.running) continue;
      int status = 0;
      const pid_t got = waitpid(rank.pid, &status, WNOHANG);
      if (got == 0) {
        any_running = true;
        continue;
      }
      rank.running = false;
      rank.status = status;
      if (cause || cancelling) continue;  // stopped by us: the outcome is decided
      engine::TrainResult own;
      const bool clean =
          WIFEXITED(status) && WEXITSTATUS(status) == 0 && read_rank_result(rank.result_path, own);
      if (!clean) {
        engine::TrainResult failed;
        failed.outcome = Outcome::failed;
        failed.detail =
            "rank " + std::to_string(r) + " (pid " + std::to_string(rank.pid) + ") " + how_it_ended(status);
        cause = failed;
        stop_all(3);
      } else if (own.outcome == Outcome::oom || own.outcome == Outcome::failed) {
        own.detail = "rank " + std::to_string(r) + ": " + own.detail;
        cause = own;
        stop_all(3);
      } else if (!kill_at) {
        // The ranks end together; one still running a collective timeout after another ended
        // cleanly is stuck, and killed (its end is then the run's outcome).
        kill_at = Clock::now() + std::chrono::seconds(program.timeout_s + 30);
      }
    }
    if (!any_running) break;
    if (!cancelling && !cause && cancel != nullptr && cancel->load()) {
      // The ranks stop together after their current step; a rank stuck in a collective is killed.
      cancelling = true;
      stop_all(30);
    }
    if (kill_at && Clock::now() >= *kill_at) {
      for (auto& r : ranks)
        if (r.running) kill(r.pid, SIGKILL);
      kill_at.reset();
    }
    if (poll && Clock::now() - last_poll >= std::chrono::milliseconds(100)) {
      poll();
      last_poll = Clock::now();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (poll) poll();

  if (cause) return *cause;
  engine::TrainResult result;
  const bool have = read_rank_result(ranks.front().result_path, result);
  if (cancelling) {
    result.outcome = Outcome::cancelled;
    if (result.detail.empty() || !have) result.detail = "cancelled";
    return result;
  }
  if (!have) {
    result.outcome = Outcome::failed;
    result.detail = "rank 0 ended without a result";
  }
  return result;
}

}  // namespace optiscope::distributed
