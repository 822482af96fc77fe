// Fuzz target: a store file from someone else. The bytes are written to a temporary file, opened
// read-only and read completely, then opened writable (which may migrate the file and marks runs of
// dead writers interrupted) and read again. StoreError is the only acceptable failure.
//
// SQLite itself comes from the system and is not instrumented: coverage guides the fuzzer through
// Optiscope's reading code, and the sanitizers watch what it does with whatever SQLite returns.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "store/store.h"

namespace {

std::string scratch_path() {
  static const std::string path = (std::filesystem::temp_directory_path() /
                                   ("optiscope-fuzz-store-" + std::to_string(::getpid()) + ".db"))
                                      .string();
  return path;
}

void remove_files(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::remove((path + suffix).c_str());
}

void read_everything(const optiscope::Store& s) {
  for (const auto& c : s.comparisons()) (void)s.runs_of(c.id);
  std::size_t runs = 0;
  for (const auto& r : s.runs()) {
    // A file can claim any number of runs; a few are enough to reach every reading path.
    if (++runs > 8) break;
    (void)s.run(r.id);
    (void)s.steps(r.id);
    (void)s.steps(r.id, 1);
    (void)s.memory_samples(r.id);
    (void)s.memory_samples(r.id, 0, 1);
    (void)s.rank_steps(r.id);
    (void)s.paging_steps(r.id);
    (void)s.um_events(r.id);
    (void)s.um_event_count(r.id);
    (void)s.capture(r.id);
    (void)s.kernel_summary(r.id);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = scratch_path();
  remove_files(path);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  for (const auto mode : {optiscope::Store::Mode::read_only, optiscope::Store::Mode::read_write}) {
    try {
      const auto s = optiscope::Store::open(path, mode);
      read_everything(s);
    } catch (const optiscope::StoreError&) {
    }
  }
  remove_files(path);
  return 0;
}
