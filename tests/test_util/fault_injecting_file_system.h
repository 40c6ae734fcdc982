// FaultInjectingFileSystem: a FileSystem test double wrapping a real one that
// can fail any single operation, or "crash" - stop performing I/O from a
// given operation on, as a killed process or a power cut would - and then
// model what power loss takes away: data appended since the file's last
// fsync, and directory entries created, renamed or removed since the
// directory's last fsync (LevelDB's db/fault_injection_test.cc does the same).
// With it a test can stop a commit between write, fsync and rename and check
// what a restart finds.
//
// Operations are numbered from the last InjectFault()/ResetCounter() call,
// counting every call on the file system and on the files it handed out.
// Thread-safe; the hook runs outside the lock so it may block.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/util/file_system.h"

namespace bnserve::testing {

class FaultInjectingFileSystem final : public FileSystem {
 public:
  enum class FaultKind {
    kError,  // the operation is not performed and returns an error; later ones work
    kCrash,  // neither it nor any later operation is performed; all return errors
  };

  // `base` is not owned and must outlive this object.
  explicit FaultInjectingFileSystem(FileSystem* base) : base_(base) {}

  // Restarts operation numbering; clears any pending fault (not a crash).
  void ResetCounter() {
    std::lock_guard<std::mutex> lock(mu_);
    op_count_ = 0;
    op_log_.clear();
    fault_index_.reset();
    fault_triggered_ = false;
  }

  // Operation number `index` (0-based, counted from now) fails as `kind`.
  void InjectFault(int64_t index, FaultKind kind) {
    ResetCounter();
    std::lock_guard<std::mutex> lock(mu_);
    fault_index_ = index;
    fault_kind_ = kind;
  }

  bool fault_triggered() const {
    std::lock_guard<std::mutex> lock(mu_);
    return fault_triggered_;
  }
  bool crashed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return crashed_;
  }
  // "Sync /tmp/.../v00000002.bnstats.tmp", one per operation since the reset.
  std::vector<std::string> op_log() const {
    std::lock_guard<std::mutex> lock(mu_);
    return op_log_;
  }

  // Called before every operation (not after a crash), outside the lock.
  void SetBeforeOpHook(std::function<void(const std::string& op, const std::string& path)> hook) {
    std::lock_guard<std::mutex> lock(mu_);
    hook_ = std::move(hook);
  }

  // Power loss after a crash: truncates files written through this object to
  // their last fsynced length, then undoes, newest first, the directory
  // changes made since each directory's last SyncDir (creations are removed,
  // renames reversed with the overwritten file's bytes put back, removed files
  // restored). Works on the base file system directly.
  absl::Status DropUnsyncedData() {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [path, synced_size] : synced_size_) {
      if (!base_->FileExists(path)) continue;
      auto bytes = base_->ReadFile(path);
      if (!bytes.ok()) return bytes.status();
      if (bytes->size() > synced_size) {
        if (absl::Status s = WriteRaw(path, bytes->substr(0, synced_size)); !s.ok()) return s;
      }
    }
    synced_size_.clear();
    for (auto& [dir, journal] : dir_journal_) {
      for (auto it = journal.rbegin(); it != journal.rend(); ++it) {
        switch (it->kind) {
          case DirOp::kCreate:
            if (base_->FileExists(it->path)) {
              if (absl::Status s = base_->RemoveFile(it->path); !s.ok()) return s;
            }
            break;
          case DirOp::kRename:
            if (absl::Status s = base_->RenameFile(it->to, it->path); !s.ok()) return s;
            if (it->saved.has_value()) {
              if (absl::Status s = WriteRaw(it->to, *it->saved); !s.ok()) return s;
            }
            break;
          case DirOp::kRemove:
            if (absl::Status s = WriteRaw(it->path, *it->saved); !s.ok()) return s;
            break;
        }
      }
    }
    dir_journal_.clear();
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    BN_RETURN_IF_ERROR(BeforeOp("ReadFile", path));
    return base_->ReadFile(path);
  }

  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    BN_RETURN_IF_ERROR(BeforeOp("NewWritableFile", path));
    const bool existed = base_->FileExists(path);
    BN_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, base_->NewWritableFile(path));
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!existed) dir_journal_[DirName(path)].push_back(DirOp{DirOp::kCreate, path, "", std::nullopt});
      synced_size_[path] = 0;
    }
    return std::unique_ptr<WritableFile>(new File(this, path, std::move(file)));
  }

  absl::Status RenameFile(const std::string& from, const std::string& to) override {
    BN_RETURN_IF_ERROR(BeforeOp("RenameFile", from + " -> " + to));
    std::optional<std::string> saved;
    if (base_->FileExists(to)) {
      BN_ASSIGN_OR_RETURN(saved, base_->ReadFile(to));
    }
    BN_RETURN_IF_ERROR(base_->RenameFile(from, to));
    std::lock_guard<std::mutex> lock(mu_);
    dir_journal_[DirName(to)].push_back(DirOp{DirOp::kRename, from, to, std::move(saved)});
    auto node = synced_size_.extract(from);
    synced_size_.erase(to);
    if (!node.empty()) {
      node.key() = to;
      synced_size_.insert(std::move(node));
    }
    return absl::OkStatus();
  }

  absl::Status SyncDir(const std::string& dir) override {
    BN_RETURN_IF_ERROR(BeforeOp("SyncDir", dir));
    BN_RETURN_IF_ERROR(base_->SyncDir(dir));
    std::lock_guard<std::mutex> lock(mu_);
    dir_journal_.erase(dir);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) override {
    BN_RETURN_IF_ERROR(BeforeOp("ListDir", dir));
    return base_->ListDir(dir);
  }

  absl::Status RemoveFile(const std::string& path) override {
    BN_RETURN_IF_ERROR(BeforeOp("RemoveFile", path));
    std::optional<std::string> saved;
    if (base_->FileExists(path)) {
      BN_ASSIGN_OR_RETURN(saved, base_->ReadFile(path));
    }
    BN_RETURN_IF_ERROR(base_->RemoveFile(path));
    std::lock_guard<std::mutex> lock(mu_);
    dir_journal_[DirName(path)].push_back(DirOp{DirOp::kRemove, path, "", std::move(saved)});
    synced_size_.erase(path);
    return absl::OkStatus();
  }

  bool FileExists(const std::string& path) override {
    if (!BeforeOp("FileExists", path).ok()) return false;
    return base_->FileExists(path);
  }

  absl::Status CreateDir(const std::string& path) override {
    BN_RETURN_IF_ERROR(BeforeOp("CreateDir", path));
    return base_->CreateDir(path);
  }

 private:
  // One directory change not yet made durable by SyncDir.
  struct DirOp {
    enum Kind { kCreate, kRename, kRemove } kind;
    std::string path;                  // created/removed file, or rename source
    std::string to;                    // rename target
    std::optional<std::string> saved;  // bytes a rename overwrote or a removal deleted
  };

  class File final : public WritableFile {
   public:
    File(FaultInjectingFileSystem* fs, std::string path, std::unique_ptr<WritableFile> base)
        : fs_(fs), path_(std::move(path)), base_(std::move(base)) {}

    absl::Status Append(absl::string_view data) override {
      BN_RETURN_IF_ERROR(fs_->BeforeOp("Append", path_));
      BN_RETURN_IF_ERROR(base_->Append(data));
      size_ += data.size();
      return absl::OkStatus();
    }
    absl::Status Sync() override {
      BN_RETURN_IF_ERROR(fs_->BeforeOp("Sync", path_));
      BN_RETURN_IF_ERROR(base_->Sync());
      std::lock_guard<std::mutex> lock(fs_->mu_);
      // The file may have been renamed meanwhile; only the name at creation
      // is tracked, which is how the store uses files (sync before rename).
      auto it = fs_->synced_size_.find(path_);
      if (it != fs_->synced_size_.end()) it->second = size_;
      return absl::OkStatus();
    }
    absl::Status Close() override {
      BN_RETURN_IF_ERROR(fs_->BeforeOp("Close", path_));
      return base_->Close();
    }

   private:
    FaultInjectingFileSystem* const fs_;
    const std::string path_;
    std::unique_ptr<WritableFile> base_;
    size_t size_ = 0;
  };

  // Counts the operation and decides whether it may run.
  absl::Status BeforeOp(absl::string_view op, const std::string& path) {
    std::function<void(const std::string&, const std::string&)> hook;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const std::string what = absl::StrCat(op, " ", path);
      if (crashed_) return absl::UnavailableError(absl::StrCat("simulated crash: not performed: ", what));
      const int64_t index = op_count_++;
      op_log_.push_back(what);
      if (fault_index_.has_value() && *fault_index_ == index) {
        fault_triggered_ = true;
        if (fault_kind_ == FaultKind::kCrash) {
          crashed_ = true;
          return absl::UnavailableError(absl::StrCat("simulated crash before operation ", index, ": ", what));
        }
        return absl::ErrnoToStatus(EIO, absl::StrCat("injected fault at operation ", index, ": ", what));
      }
      hook = hook_;
    }
    if (hook) hook(std::string(op), path);
    return absl::OkStatus();
  }

  absl::Status WriteRaw(const std::string& path, absl::string_view bytes) {
    BN_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, base_->NewWritableFile(path));
    BN_RETURN_IF_ERROR(file->Append(bytes));
    BN_RETURN_IF_ERROR(file->Sync());
    return file->Close();
  }

  FileSystem* const base_;
  mutable std::mutex mu_;  // std::mutex so TSan builds see it (see stats_store.h)
  // Everything below is guarded by mu_.
  int64_t op_count_ = 0;
  std::vector<std::string> op_log_;
  std::optional<int64_t> fault_index_;
  FaultKind fault_kind_ = FaultKind::kError;
  bool fault_triggered_ = false;
  bool crashed_ = false;
  std::function<void(const std::string&, const std::string&)> hook_;
  std::map<std::string, size_t> synced_size_;  // by current name
  std::map<std::string, std::vector<DirOp>> dir_journal_;
};

}  // namespace bnserve::testing
