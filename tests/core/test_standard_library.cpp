// The standard library a LibTorch program runs with is the one it was compiled against. The torch
// wheel's libraries export copies of libstdc++'s newer symbols (std::filesystem among them); a
// program that finds those first calls into them, and the CUDA wheel's libtorch.so remove_all
// jumped to a null address (the launcher of `run --nproc` died of SIGSEGV removing its folder).
// cmake/OptiscopeTorch.cmake names libstdc++ ahead of LibTorch.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <system_error>

namespace fs = std::filesystem;

namespace {

std::string module_defining(const void* address) {
  Dl_info info{};
  if (dladdr(address, &info) == 0 || info.dli_fname == nullptr) return "(no module)";
  return info.dli_fname;
}

}  // namespace

TEST(StandardLibrary, FilesystemCallsReachLibstdcxxNotLibTorch) {
  // LibTorch is loaded and used by this program.
  EXPECT_EQ(torch::ones({2}).sum().item<float>(), 2.0F);
  // Looked up by name in the program's global scope, in the order the dynamic linker binds the
  // program's calls (the address of a function taken here could be the program's own PLT entry;
  // dlvsym is stricter than the linker, which lets an unversioned copy answer a versioned call).
  for (const char* name : {"_ZNSt10filesystem10remove_allERKNS_7__cxx114pathERSt10error_code",
                           "_ZNSt10filesystem19temp_directory_pathB5cxx11Ev"}) {
    const void* found = dlsym(RTLD_DEFAULT, name);
    ASSERT_NE(found, nullptr) << name;
    const std::string where = module_defining(found);
    // libstdc++.so, or this program itself where the toolchain links libstdc++ statically (the
    // GPU machine's /opt/gcc): either way the library we compiled against, never LibTorch's copy.
    std::error_code ec;
    const bool ours = where.find("libstdc++") != std::string::npos ||
                      fs::equivalent(fs::path(where), fs::read_symlink("/proc/self/exe"), ec);
    // Printed on success too, so a GPU machine's log says where the call went.
    std::cout << "[ info ] " << name << " comes from " << where << '\n';
    EXPECT_TRUE(ours) << name << " comes from " << where;
    EXPECT_EQ(where.find("libtorch"), std::string::npos) << name << " comes from " << where;
  }
}

TEST(StandardLibrary, RemoveAllRemovesAFolderTree) {
  std::string tmpl = (fs::temp_directory_path() / "optiscope-stdlib-XXXXXX").string();
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  const fs::path root = tmpl;
  fs::create_directories(root / "a" / "b");
  std::ofstream(root / "a" / "b" / "file.txt") << "x";
  std::ofstream(root / "top.json") << "{}";
  std::error_code ec;
  EXPECT_EQ(fs::remove_all(root, ec), 5U) << ec.message();  // the folder, a, b and two files
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_FALSE(fs::exists(root));
}
