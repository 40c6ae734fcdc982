// ScopedTempDir: a fresh directory under ::testing::TempDir(), removed with
// everything in it (permissions restored first) when the object goes away.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "gtest/gtest.h"

namespace bnserve::testing {

class ScopedTempDir {
 public:
  ScopedTempDir() {
    std::string base = ::testing::TempDir();
    if (base.empty() || base.back() != '/') base += '/';
    std::vector<char> name(base.begin(), base.end());
    for (char c : std::string("bnserve_test_XXXXXX")) name.push_back(c);
    name.push_back('\0');
    if (mkdtemp(name.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp failed under " << base;
      return;
    }
    path_ = name.data();
  }
  ~ScopedTempDir() {
    if (path_.empty()) return;
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(path_, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory())
        std::filesystem::permissions(it->path(), std::filesystem::perms::owner_all, std::filesystem::perm_options::add,
                                     ec);
    }
    std::filesystem::remove_all(path_, ec);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace bnserve::testing
