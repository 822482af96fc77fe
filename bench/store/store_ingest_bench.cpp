// Store ingest and read-back of unified-memory events: the goals of issue 5 are over 1 M events/s
// written (one transaction per step, as the engine writes them) and under 1 s to read back 1 M
// events for plotting. Prints one JSON object.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "store/store.h"

using namespace optiscope;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : "/tmp/optiscope-ingest-bench.db";
  const std::int64_t total = argc > 2 ? std::stoll(argv[2]) : 1'000'000;
  const std::int64_t per_step = 10'000;  // a heavily paging step of a large model
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  double ingest_s = 0;
  std::int64_t run = 0;
  {
    Store s = Store::open(path, Store::Mode::read_write);
    run = s.begin_run(s.add_comparison("ingest bench", "{}"), 0, "paged_adamw_8bit", "{}", "bench");
    std::int64_t written = 0;
    std::int64_t step = 1;
    const auto t0 = Clock::now();
    while (written < total) {
      StepBundle b;
      b.step = StepRecord{step, 1.0, 1e-5, 100.0, 2048, 1};
      const std::int64_t n = std::min(per_step, total - written);
      b.um_events.reserve(static_cast<std::size_t>(n));
      for (std::int64_t i = 0; i < n; ++i)
        b.um_events.push_back({step, static_cast<int>(i % 2), 1, written + i, written + i + 700, 2 << 20,
                               0x7f0000000000 + i * 4096});
      s.append_bundle(run, b);
      written += n;
      ++step;
    }
    ingest_s = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  const Store r = Store::open(path, Store::Mode::read_only);
  const auto t1 = Clock::now();
  const auto events = r.um_events(run);
  const double readback_s = std::chrono::duration<double>(Clock::now() - t1).count();
  std::printf(
      "{\"events\": %lld, \"events_per_step\": %lld, \"ingest_s\": %.3f, \"ingest_events_per_s\": %.0f, "
      "\"readback_events\": %zu, \"readback_s\": %.3f, \"file_bytes\": %llu}\n",
      static_cast<long long>(total), static_cast<long long>(per_step), ingest_s,
      static_cast<double>(total) / ingest_s, events.size(), readback_s,
      static_cast<unsigned long long>(std::filesystem::file_size(path)));
  return events.size() == static_cast<std::size_t>(total) ? 0 : 1;
}
