#pragma once
// A whole file mapped read-only into memory: a GGUF's header and tensor data are read straight
// from the mapping, so opening a large model allocates nothing the size of the file.
#include <cstdint>
#include <filesystem>
#include <string_view>

namespace optiscope::checkpoint {

class MappedFile {
 public:
  /// Throws CheckpointError when the file cannot be opened or mapped.
  explicit MappedFile(const std::filesystem::path& file);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::string_view bytes() const { return {static_cast<const char*>(data_), size_}; }

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace optiscope::checkpoint
