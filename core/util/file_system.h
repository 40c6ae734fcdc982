// FileSystem: the one door through which the statistics store touches disk
// (LevelDB's Env, reduced to what a crash-safe store needs). Everything that
// must survive a crash goes through it, so a test double can fail or "crash"
// between any two steps of a write - between write, fsync and rename - which
// is the only way to test durability without pulling the power cord.
//
// Paths are plain strings joined with '/'. Errors are absl::Status values
// built from errno (ENOENT -> NOT_FOUND, EACCES -> PERMISSION_DENIED, ...);
// messages name the operation and the path.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "core/util/status.h"

namespace bnserve {

// A file being written. Not thread-safe: one writer at a time. Destroying it
// without Close() closes it and drops any error (callers that care call Close).
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual absl::Status Append(absl::string_view data) = 0;
  // Makes everything appended so far durable (fsync): after OK, the bytes
  // survive power loss - once the file's directory entry does too (SyncDir).
  virtual absl::Status Sync() = 0;
  virtual absl::Status Close() = 0;
};

// Implementations are thread-safe; the object is not owned by its users and
// must outlive them.
class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // The whole file. NOT_FOUND when it does not exist.
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path) = 0;
  // Creates `path`, truncating an existing file.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) = 0;
  // Atomically replaces `to` with `from` (POSIX rename within one directory).
  virtual absl::Status RenameFile(const std::string& from, const std::string& to) = 0;
  // fsync of a directory: makes the entries created, renamed and removed in it
  // durable. Without it a renamed file can vanish after power loss even
  // though its bytes were synced (the step LevelDB lacks, google/leveldb#195).
  virtual absl::Status SyncDir(const std::string& dir) = 0;
  // Entry names (not paths) in `dir`, sorted, without "." and "..".
  virtual absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) = 0;
  virtual absl::Status RemoveFile(const std::string& path) = 0;
  virtual bool FileExists(const std::string& path) = 0;
  // Creates one directory level; OK when it already exists as a directory.
  virtual absl::Status CreateDir(const std::string& path) = 0;
};

// The POSIX implementation (open/write/fsync/rename/unlink). Stateless.
class PosixFileSystem final : public FileSystem {
 public:
  absl::StatusOr<std::string> ReadFile(const std::string& path) override;
  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override;
  absl::Status RenameFile(const std::string& from, const std::string& to) override;
  absl::Status SyncDir(const std::string& dir) override;
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) override;
  absl::Status RemoveFile(const std::string& path) override;
  bool FileExists(const std::string& path) override;
  absl::Status CreateDir(const std::string& path) override;
};

// A process-wide PosixFileSystem, never destroyed.
FileSystem* DefaultFileSystem();

// "a" + "/" + "b" (no doubled slash when `dir` ends in one).
std::string JoinPath(absl::string_view dir, absl::string_view name);
// Everything before the last '/', or "." when there is none.
std::string DirName(absl::string_view path);

// Suffix of the temporary file WriteFileAtomically writes next to its target.
// Open-time clean-up removes files ending in it.
inline constexpr absl::string_view kTempFileSuffix = ".tmp";

// Replaces `path` with `contents` so that after a crash at any moment the file
// holds either its old or its new contents, and after OK the new contents are
// durable. LevelDB's DoWriteStringToFile + SetCurrentFile plus a directory
// fsync: create path.tmp, append, fsync, close, rename over `path`, fsync the
// directory. Exactly these six calls (on `fs` and the file), in order, when all
// succeed. On a failure before the rename the temporary file is removed (best
// effort) and the first error is returned; a failure of the final directory
// fsync is returned as is - the rename has happened but may not be durable,
// and the caller decides how to undo it. `renamed`, when given, tells the two
// apart: true once the rename has succeeded.
absl::Status WriteFileAtomically(FileSystem* fs, const std::string& path, absl::string_view contents,
                                 bool* renamed = nullptr);

}  // namespace bnserve
