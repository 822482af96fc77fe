// Inputs that exceed what the machine has, as a newcomer meets them: a checkpoint whose config
// describes a model far larger than memory (refused up front with the calculator's estimate, exit 2,
// nothing written), a dataset record too long to hold (a clear error naming the bound), and a store
// on a file system that fills up while recording (the disk is named as full, exit 1, the store
// stays intact and the unfinished run reads `interrupted` once the store is next opened for writing).
#include <sys/mount.h>

#include "support.h"

namespace optiscope::reliability {
namespace {

// A config.json of a Llama-style model with a vocabulary of 1,000,000 and a hidden size of 16,384
// over 126 layers: hundreds of billions of parameters, more than any machine's memory, so the test
// means the same on this build machine and on a GPU server with hundreds of GiB.
constexpr const char* kHugeConfig = R"({"model_type": "llama", "vocab_size": 1000000, "hidden_size": 16384,
  "intermediate_size": 53248, "num_hidden_layers": 126, "num_attention_heads": 128, "num_key_value_heads": 8,
  "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "tie_word_embeddings": false})";

TEST(ResourceLimits, AModelFarLargerThanMemoryIsRefusedUpFront) {
  const ScratchDir dir;
  fs::create_directories(dir / "huge");
  write_file(dir / "huge/config.json", kHugeConfig);
  const auto db = dir / "existing.db";
  make_store(db, 5);
  const auto before = snapshot(dir.path());
  const auto started = std::chrono::steady_clock::now();
  const auto r = run_cli(dir.path(),
                         {"run", "--preset", dir / "huge", "--optim", "adamw_torch", "--steps", "2",
                          "--seq-len", "32", "--quiet", "--db", db},
                         std::chrono::seconds(120));
  EXPECT_EQ(r.signal, 0) << r.describe();
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  // The message gives the estimate, the free memory and the verdict.
  for (const char* words :
       {"parameters:", "weights", "optimizer state", "of host memory", "is free", "refused before starting"})
    EXPECT_NE(r.err.find(words), std::string::npos) << "expected '" << words << "' in\n" << r.err;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30)) << "refused, not attempted";
  EXPECT_EQ(describe_difference(before, snapshot(dir.path())), "") << "a refused run wrote to the store";
}

TEST(ResourceLimits, AnOverlongDatasetRecordFailsNamingTheBound) {
  const ScratchDir dir;
  // One JSONL line of 17 MiB, one more than a record may take.
  std::string line = "{\"text\": \"";
  line.append(17u * 1024 * 1024, 'a');
  line += "\"}\n";
  write_file(dir / "long.jsonl", "{\"text\": \"a short one\"}\n" + line);
  const auto db = dir / "runs.db";
  write_file(dir / "spec.json",
             "{\"name\": \"long record\", \"optims\": [\"adamw_torch\"], \"max_steps\": 2, "
             "\"max_seq_length\": 32, \"model\": \"tiny\", \"dataset\": \"" +
                 (dir / "long.jsonl") + "\"}");
  const auto run = run_cli(dir.path(), {"run", "--spec", dir / "spec.json", "--quiet", "--db", db},
                           std::chrono::seconds(120));
  EXPECT_EQ(run.signal, 0) << run.describe();
  EXPECT_NE(run.exit_code, 0) << run.describe();
  EXPECT_NE(run.exit_code, 1) << run.describe();
  EXPECT_NE(run.err.find("line 2 is 17.0 MiB long; one record may take at most 16 MiB"), std::string::npos)
      << run.describe();
}

// A small tmpfs mounted for one test and unmounted after it, or nothing where mounting is not
// allowed (not root, or a container without CAP_SYS_ADMIN): the test then skips, saying why.
class SmallFileSystem {
 public:
  SmallFileSystem(const std::string& where, const std::string& size) : where_(where) {
    fs::create_directories(where_);
    const std::string options = "size=" + size + ",mode=0777";
    mounted_ = ::mount("optiscope-full", where_.c_str(), "tmpfs", 0, options.c_str()) == 0;
    if (!mounted_) why_ = std::strerror(errno);
  }
  ~SmallFileSystem() {
    if (mounted_) ::umount2(where_.c_str(), MNT_DETACH);
  }
  SmallFileSystem(const SmallFileSystem&) = delete;
  SmallFileSystem& operator=(const SmallFileSystem&) = delete;
  bool mounted() const { return mounted_; }
  const std::string& why() const { return why_; }

 private:
  fs::path where_;
  bool mounted_ = false;
  std::string why_;
};

// Fills the file system at `dir` with one file until fewer than `leave` bytes are free.
void fill_leaving(const std::string& file, std::uintmax_t leave) {
  const auto space = fs::space(fs::path(file).parent_path());
  if (space.available <= leave) return;
  write_file(file, std::string(static_cast<std::size_t>(space.available - leave), 'x'));
}

TEST(ResourceLimits, ADiskThatFillsUpWhileRecordingSaysSoAndKeepsTheStore) {
  const ScratchDir dir;
  SmallFileSystem small(dir / "mnt", "4m");
  if (!small.mounted()) GTEST_SKIP() << "cannot mount a 4 MiB tmpfs here (" << small.why() << "); needs root";
  const auto db = dir / "mnt/runs.db";
  make_store(db, 5);
  fill_leaving(dir / "mnt/filler", 96 * 1024);
  const auto r = run_cli(dir.path(),
                         {"run", "--preset", "tiny", "--optim", "adamw_torch", "--steps", "2000", "--seq-len",
                          "32", "--quiet", "--db", db},
                         std::chrono::seconds(300));
  EXPECT_EQ(r.signal, 0) << r.describe();
  EXPECT_EQ(r.exit_code, 1) << "a full disk is an error of the store, not bad input\n" << r.describe();
  EXPECT_NE(r.err.find("the disk is full"), std::string::npos) << r.describe();
  EXPECT_EQ(r.err.find("cannot rollback"), std::string::npos) << r.describe();
  EXPECT_EQ(integrity(db), "ok\n");
  {
    const Store s = Store::open(db, Store::Mode::read_only);
    const auto runs = s.runs();
    ASSERT_EQ(runs.size(), 3u);
    EXPECT_EQ(s.steps(runs[0].id).size(), 5u) << "the earlier comparison lost steps";
    // A reader already tells the truth: the writer is gone.
    EXPECT_EQ(runs[2].outcome, Outcome::interrupted);
  }
  // Room again: the next writable open marks the run interrupted in the file itself.
  fs::remove(dir / "mnt/filler");
  { const Store w = Store::open(db, Store::Mode::read_write); }
  const RawDb raw(db, SQLITE_OPEN_READONLY);
  EXPECT_EQ(raw.rows("SELECT outcome FROM runs ORDER BY id DESC LIMIT 1"),
            std::vector<std::string>{"interrupted"});
}

TEST(ResourceLimits, AFileSystemTooSmallForANewStoreSaysTheDiskIsFull) {
  const ScratchDir dir;
  SmallFileSystem small(dir / "mnt", "64k");
  if (!small.mounted())
    GTEST_SKIP() << "cannot mount a 64 KiB tmpfs here (" << small.why() << "); needs root";
  const auto r = run_cli(dir.path(),
                         {"run", "--preset", "tiny", "--optim", "adamw_torch", "--steps", "2", "--seq-len",
                          "32", "--quiet", "--db", dir / "mnt/new.db"},
                         std::chrono::seconds(120));
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_NE(r.err.find("the disk is full"), std::string::npos) << r.describe();
  EXPECT_EQ(r.err.find("cannot rollback"), std::string::npos) << r.describe();
}

}  // namespace
}  // namespace optiscope::reliability
