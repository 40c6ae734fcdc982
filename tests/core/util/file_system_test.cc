#include "core/util/file_system.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/test_util/fault_injecting_file_system.h"
#include "tests/test_util/scoped_temp_dir.h"

namespace bnserve {
namespace {

using ::bnserve::testing::FaultInjectingFileSystem;
using ::bnserve::testing::ScopedTempDir;

TEST(PosixFileSystemTest, WriteReadListRemove) {
  ScopedTempDir dir;
  PosixFileSystem fs;
  const std::string path = JoinPath(dir.path(), "a.bin");
  EXPECT_FALSE(fs.FileExists(path));
  auto missing = fs.ReadFile(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find(path), std::string::npos) << missing.status();

  const std::string bytes = std::string("with\0NUL\n", 9) + std::string(70000, 'x');  // > one read buffer
  auto file = fs.NewWritableFile(path);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Append(bytes.substr(0, 5)).ok());
  ASSERT_TRUE((*file)->Append(bytes.substr(5)).ok());
  ASSERT_TRUE((*file)->Sync().ok());
  ASSERT_TRUE((*file)->Close().ok());
  EXPECT_TRUE(fs.FileExists(path));
  auto read = fs.ReadFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, bytes);

  ASSERT_TRUE(fs.CreateDir(JoinPath(dir.path(), "sub")).ok());
  ASSERT_TRUE(fs.CreateDir(JoinPath(dir.path(), "sub")).ok()) << "an existing directory is fine";
  EXPECT_FALSE(fs.CreateDir(path).ok()) << "a file is not a directory";
  auto names = fs.ListDir(dir.path());
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_EQ(*names, (std::vector<std::string>{"a.bin", "sub"}));
  ASSERT_TRUE(fs.SyncDir(dir.path()).ok());

  ASSERT_TRUE(fs.RemoveFile(path).ok());
  EXPECT_FALSE(fs.FileExists(path));
  EXPECT_EQ(fs.RemoveFile(path).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(fs.ListDir(JoinPath(dir.path(), "nope")).status().code(), absl::StatusCode::kNotFound);
}

TEST(PathTest, JoinAndDirName) {
  EXPECT_EQ(JoinPath("a/b", "c"), "a/b/c");
  EXPECT_EQ(JoinPath("a/b/", "c"), "a/b/c");
  EXPECT_EQ(JoinPath("", "c"), "c");
  EXPECT_EQ(DirName("a/b/c"), "a/b");
  EXPECT_EQ(DirName("/c"), "/");
  EXPECT_EQ(DirName("c"), ".");
}

TEST(WriteFileAtomicallyTest, PerformsTheSixStepsInOrder) {
  ScopedTempDir dir;
  PosixFileSystem posix;
  FaultInjectingFileSystem fs(&posix);
  const std::string path = JoinPath(dir.path(), "CURRENT");
  fs.ResetCounter();
  bool renamed = false;
  ASSERT_TRUE(WriteFileAtomically(&fs, path, "v00000002\n", &renamed).ok());
  EXPECT_TRUE(renamed);
  const std::string temp = path + ".tmp";
  EXPECT_EQ(fs.op_log(),
            (std::vector<std::string>{"NewWritableFile " + temp, "Append " + temp, "Sync " + temp, "Close " + temp,
                                      "RenameFile " + temp + " -> " + path, "SyncDir " + dir.path()}));
  EXPECT_EQ(*posix.ReadFile(path), "v00000002\n");
  EXPECT_FALSE(posix.FileExists(temp));
}

TEST(WriteFileAtomicallyTest, AFailedStepKeepsTheOldContentsAndRemovesTheTemporaryFile) {
  ScopedTempDir dir;
  PosixFileSystem posix;
  FaultInjectingFileSystem fs(&posix);
  const std::string path = JoinPath(dir.path(), "CURRENT");
  ASSERT_TRUE(WriteFileAtomically(&posix, path, "old\n").ok());
  for (int step = 0; step < 5; ++step) {  // every step up to and including the rename
    fs.InjectFault(step, FaultInjectingFileSystem::FaultKind::kError);
    bool renamed = true;
    const absl::Status s = WriteFileAtomically(&fs, path, "new\n", &renamed);
    EXPECT_FALSE(s.ok()) << "step " << step;
    EXPECT_NE(s.message().find("injected fault"), std::string::npos) << s;
    EXPECT_FALSE(renamed) << "step " << step;
    EXPECT_EQ(*posix.ReadFile(path), "old\n") << "step " << step;
    EXPECT_EQ(*posix.ListDir(dir.path()), std::vector<std::string>{"CURRENT"}) << "step " << step;
  }
  // A failed directory fsync comes after the rename: reported, flagged.
  fs.InjectFault(5, FaultInjectingFileSystem::FaultKind::kError);
  bool renamed = false;
  EXPECT_FALSE(WriteFileAtomically(&fs, path, "new\n", &renamed).ok());
  EXPECT_TRUE(renamed);
  EXPECT_EQ(*posix.ReadFile(path), "new\n");
}

// The power-loss model of the test double: what was not synced disappears.
TEST(FaultInjectingFileSystemTest, PowerLossDropsUnsyncedDataAndDirectoryChanges) {
  ScopedTempDir dir;
  PosixFileSystem posix;
  FaultInjectingFileSystem fs(&posix);
  const std::string durable = JoinPath(dir.path(), "durable");
  const std::string target = JoinPath(dir.path(), "target");
  ASSERT_TRUE(WriteFileAtomically(&fs, durable, "kept").ok());
  ASSERT_TRUE(WriteFileAtomically(&fs, target, "old").ok());

  // Half synced, in a file whose creation was made durable.
  const std::string partial = JoinPath(dir.path(), "partial");
  {
    auto f = fs.NewWritableFile(partial);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(fs.SyncDir(dir.path()).ok());
    ASSERT_TRUE((*f)->Append("synced").ok());
    ASSERT_TRUE((*f)->Sync().ok());
    ASSERT_TRUE((*f)->Append("+lost").ok());
    ASSERT_TRUE((*f)->Close().ok());
  }
  // Renamed over `target` without a directory fsync.
  {
    auto f = fs.NewWritableFile(target + ".new");
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append("new").ok());
    ASSERT_TRUE((*f)->Sync().ok());
    ASSERT_TRUE((*f)->Close().ok());
    ASSERT_TRUE(fs.RenameFile(target + ".new", target).ok());
  }
  // Removed without a directory fsync.
  ASSERT_TRUE(fs.RemoveFile(durable).ok());

  fs.InjectFault(0, FaultInjectingFileSystem::FaultKind::kCrash);
  EXPECT_FALSE(fs.SyncDir(dir.path()).ok());
  EXPECT_TRUE(fs.crashed());
  EXPECT_FALSE(fs.ReadFile(partial).ok()) << "nothing runs after a crash";
  ASSERT_TRUE(fs.DropUnsyncedData().ok());

  EXPECT_EQ(*posix.ReadFile(target), "old");
  EXPECT_EQ(*posix.ReadFile(partial), "synced");
  EXPECT_EQ(*posix.ReadFile(durable), "kept");
  EXPECT_EQ(*posix.ListDir(dir.path()), (std::vector<std::string>{"durable", "partial", "target"}));
}

}  // namespace
}  // namespace bnserve
