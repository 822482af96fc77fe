// The GUI reads a store while optiscope-cli writes it: no "database is locked", no error of any
// kind once the store exists, and steps only ever grow. Readers work the way the GUI does: one
// long-lived read-only connection polled for new steps, and fresh opens (File > Reload, a second
// window), from two threads at once.
#include <atomic>

#include "support.h"

namespace optiscope::reliability {
namespace {

struct ReaderStats {
  int polls = 0;
  int opens = 0;
  std::int64_t max_steps_seen = 0;
  std::vector<std::string> errors;
};

/// Steps of every run, counted; throws StoreError like the views would see it.
std::map<std::int64_t, std::int64_t> step_counts(const Store& s) {
  std::map<std::int64_t, std::int64_t> counts;
  for (const auto& r : s.runs()) counts[r.id] = static_cast<std::int64_t>(s.steps(r.id).size());
  return counts;
}

void check_growth(const std::map<std::int64_t, std::int64_t>& before,
                  const std::map<std::int64_t, std::int64_t>& now, ReaderStats& stats) {
  for (const auto& [id, n] : before) {
    const auto it = now.find(id);
    if (it == now.end())
      stats.errors.push_back("run " + std::to_string(id) + " vanished");
    else if (it->second < n)
      stats.errors.push_back("run " + std::to_string(id) + " went from " + std::to_string(n) + " to " +
                             std::to_string(it->second) + " steps");
  }
  for (const auto& [id, n] : now) stats.max_steps_seen = std::max(stats.max_steps_seen, n);
}

TEST(ConcurrentRead, ReadersNeverFailWhileTheCliWrites) {
  const ScratchDir dir;
  const auto db = dir / "live.db";
  // Two variants and short steps: many commits, a run switch, and the final checkpoint on close.
  constexpr int kSteps = 40;
  Child cli({cli_path(), "run", "--preset", "tiny", "--optim", "adamw_torch,adamw_8bit", "--steps",
             std::to_string(kSteps), "--batch", "2", "--seq-len", "16", "--quiet", "--db", db},
            dir / "cli.out", dir / "cli.err");
  std::atomic<bool> writer_done{false};

  // Before the CLI commits its schema the file is missing or empty: those refusals are expected.
  // After the first successful open, any error is a failure.
  auto long_lived = [&](ReaderStats& stats) {
    std::unique_ptr<Store> store;
    while (!store && !writer_done) {
      try {
        store = std::make_unique<Store>(Store::open(db, Store::Mode::read_only));
      } catch (const StoreError&) {
        std::this_thread::sleep_for(5ms);
      }
    }
    if (!store) return;
    std::map<std::int64_t, std::int64_t> last;
    std::map<std::int64_t, std::int64_t> after;  // the live view reads only steps after the last seen
    do {
      try {
        const auto now = step_counts(*store);
        check_growth(last, now, stats);
        last = now;
        for (const auto& r : store->runs()) {
          for (const auto& st : store->steps(r.id, after[r.id])) {
            if (st.step != after[r.id] + 1)
              stats.errors.push_back("live read skipped to step " + std::to_string(st.step));
            after[r.id] = st.step;
          }
        }
        ++stats.polls;
      } catch (const std::exception& e) {
        stats.errors.push_back(std::string("long-lived reader: ") + e.what());
      }
      // Far more often than the GUI's 20 refreshes a second, without starving the writer of CPU.
      std::this_thread::sleep_for(2ms);
    } while (!writer_done.load());
  };
  auto reopening = [&](ReaderStats& stats) {
    bool opened_once = false;
    std::map<std::int64_t, std::int64_t> last;
    do {
      try {
        const Store s = Store::open(db, Store::Mode::read_only);
        opened_once = true;
        const auto now = step_counts(s);
        check_growth(last, now, stats);
        last = now;
        ++stats.opens;
      } catch (const std::exception& e) {
        if (opened_once) stats.errors.push_back(std::string("reopening reader: ") + e.what());
      }
      std::this_thread::sleep_for(2ms);
    } while (!writer_done.load());
  };

  ReaderStats a;
  ReaderStats b;
  std::thread ta(long_lived, std::ref(a));
  std::thread tb(reopening, std::ref(b));
  const bool ended = cli.wait_for(std::chrono::seconds(600));
  writer_done = true;
  ta.join();
  tb.join();
  ASSERT_TRUE(ended) << "the CLI did not finish in 600 s";
  const int st = cli.wait();
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "CLI status " << st << "\n" << cli.err();
  EXPECT_EQ(cli.err().find("locked"), std::string::npos) << cli.err();

  for (const auto* s : {&a, &b})
    for (const auto& e : s->errors) ADD_FAILURE() << e;
  RecordProperty("long_lived_polls", a.polls);
  RecordProperty("fresh_opens", b.opens);
  std::printf("long-lived reader: %d polls, fresh opens: %d, max steps seen %lld / %lld\n", a.polls, b.opens,
              static_cast<long long>(std::max(a.max_steps_seen, b.max_steps_seen)),
              static_cast<long long>(kSteps));
  EXPECT_GT(a.polls, 10);
  EXPECT_GT(b.opens, 10);
  EXPECT_GT(a.max_steps_seen, 0) << "the reader saw steps while they were being written";

  const Store s = Store::open(db, Store::Mode::read_only);
  const auto runs = s.runs();
  ASSERT_EQ(runs.size(), 2u);
  for (const auto& r : runs) {
    EXPECT_EQ(r.outcome, Outcome::completed);
    EXPECT_EQ(s.steps(r.id).size(), static_cast<std::size_t>(kSteps));
  }
  EXPECT_EQ(integrity(db), "ok\n");
}

// A reader that holds a read transaction open (a long chart export) must not make the writer fail
// either: WAL lets the writer go on, and its final checkpoint gives up politely.
TEST(ConcurrentRead, AReaderHoldingASnapshotDoesNotStopTheWriter) {
  const ScratchDir dir;
  const auto db = dir / "held.db";
  make_store(db, 5);
  const RawDb reader(db, SQLITE_OPEN_READONLY);
  reader.exec("BEGIN");
  ASSERT_EQ(reader.one("SELECT count(*) FROM steps"), "10");
  const auto r = run_cli(dir.path(), {"run", "--preset", "tiny", "--optim", "adamw_8bit", "--steps", "3",
                                      "--batch", "2", "--seq-len", "16", "--quiet", "--db", db});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(reader.one("SELECT count(*) FROM steps"), "10") << "the snapshot holds";
  reader.exec("COMMIT");
  EXPECT_EQ(reader.one("SELECT count(*) FROM steps"), "13");
}

}  // namespace
}  // namespace optiscope::reliability
