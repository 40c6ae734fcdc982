#include "core/util/file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "core/util/crash_point.h"

namespace bnserve {
namespace {

absl::Status PosixError(int error_number, absl::string_view op, absl::string_view path) {
  return absl::ErrnoToStatus(error_number, absl::StrCat(op, " '", path, "'"));
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  absl::Status Append(absl::string_view data) override {
    if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat("append to closed file '", path_, "'"));
    while (!data.empty()) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return PosixError(errno, "write", path_);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat("fsync of closed file '", path_, "'"));
    // fsync rather than fdatasync: the file is new, so its size and directory
    // metadata matter as much as its bytes.
    if (::fsync(fd_) != 0) return PosixError(errno, "fsync", path_);
    return absl::OkStatus();
  }

  absl::Status Close() override {
    if (fd_ < 0) return absl::OkStatus();
    const int fd = fd_;
    fd_ = -1;  // never retry close(): on Linux the descriptor is gone even on EINTR
    if (::close(fd) != 0) return PosixError(errno, "close", path_);
    return absl::OkStatus();
  }

 private:
  const std::string path_;
  int fd_;
};

}  // namespace

absl::StatusOr<std::string> PosixFileSystem::ReadFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return PosixError(errno, "open", path);
  std::string contents;
  char buffer[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error_number = errno;
      ::close(fd);
      return PosixError(error_number, "read", path);
    }
    if (n == 0) break;
    contents.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return contents;
}

absl::StatusOr<std::unique_ptr<WritableFile>> PosixFileSystem::NewWritableFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return PosixError(errno, "create", path);
  return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd));
}

absl::Status PosixFileSystem::RenameFile(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return PosixError(errno, absl::StrCat("rename '", from, "' to"), to);
  return absl::OkStatus();
}

absl::Status PosixFileSystem::SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return PosixError(errno, "open directory", dir);
  if (::fsync(fd) != 0) {
    const int error_number = errno;
    ::close(fd);
    return PosixError(error_number, "fsync directory", dir);
  }
  ::close(fd);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> PosixFileSystem::ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return PosixError(errno, "list directory", dir);
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* entry = ::readdir(d)) {
    const absl::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
    errno = 0;
  }
  const int error_number = errno;
  ::closedir(d);
  if (error_number != 0) return PosixError(error_number, "list directory", dir);
  std::sort(names.begin(), names.end());
  return names;
}

absl::Status PosixFileSystem::RemoveFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return PosixError(errno, "remove", path);
  return absl::OkStatus();
}

bool PosixFileSystem::FileExists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

absl::Status PosixFileSystem::CreateDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) == 0) return absl::OkStatus();
  const int error_number = errno;
  struct stat st;
  if (error_number == EEXIST && ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return absl::OkStatus();
  return PosixError(error_number, "create directory", path);
}

FileSystem* DefaultFileSystem() {
  static FileSystem* const fs = new PosixFileSystem();
  return fs;
}

std::string JoinPath(absl::string_view dir, absl::string_view name) {
  if (dir.empty()) return std::string(name);
  if (dir.back() == '/') return absl::StrCat(dir, name);
  return absl::StrCat(dir, "/", name);
}

std::string DirName(absl::string_view path) {
  const size_t slash = path.rfind('/');
  if (slash == absl::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

absl::Status WriteFileAtomically(FileSystem* fs, const std::string& path, absl::string_view contents, bool* renamed) {
  if (renamed != nullptr) *renamed = false;
  const std::string temp_path = absl::StrCat(path, kTempFileSuffix);
  absl::Status status = [&]() -> absl::Status {
    BN_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, fs->NewWritableFile(temp_path));
    BN_RETURN_IF_ERROR(file->Append(contents));
    MaybeCrashAt("after_write");
    BN_RETURN_IF_ERROR(file->Sync());
    BN_RETURN_IF_ERROR(file->Close());
    MaybeCrashAt("after_fsync");
    BN_RETURN_IF_ERROR(fs->RenameFile(temp_path, path));
    MaybeCrashAt("after_rename");
    return absl::OkStatus();
  }();
  if (!status.ok()) {
    // Best effort, like LevelDB: the temporary file may not even exist, and
    // Open() removes any survivor anyway.
    fs->RemoveFile(temp_path).IgnoreError();
    return status;
  }
  if (renamed != nullptr) *renamed = true;
  BN_RETURN_IF_ERROR(fs->SyncDir(DirName(path)));
  MaybeCrashAt("after_dir_fsync");
  return absl::OkStatus();
}

}  // namespace bnserve
