// Writes the store the user guide's screenshots show: the article's variants on a 24 GiB budget, as
// the GUI tests build it (tests/ui/rich_store.h), until a GPU recording replaces it.
//   optiscope_gui_sample_store OUT.db
#include <cstdio>
#include <filesystem>

#include "rich_store.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT.db\n", argv[0]);
    return 2;
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(std::string(argv[1]) + suffix);
  optiscope::Store store = optiscope::Store::open(argv[1], optiscope::Store::Mode::read_write);
  optiscope::test::writeRichComparison(store);
  return 0;
}
