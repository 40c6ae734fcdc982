#include "core/store/file_stats_store.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "core/store/stats_file.h"
#include "core/util/crash_point.h"

namespace bnserve {
namespace {

constexpr absl::string_view kStatsDirName = "stats";
constexpr absl::string_view kCurrentFileName = "CURRENT";
constexpr absl::string_view kVersionFileSuffix = ".bnstats";
// Versions are written with at least 8 digits; more than 18 could overflow int64.
constexpr size_t kMinVersionDigits = 8;
constexpr size_t kMaxVersionDigits = 18;

// "v00000007" for 7.
std::string VersionStem(int64_t version) { return absl::StrFormat("v%08d", version); }

// Parses "v" + 8..18 digits; nullopt for anything else.
std::optional<int64_t> ParseVersionStem(absl::string_view stem) {
  if (!absl::ConsumePrefix(&stem, "v")) return std::nullopt;
  if (stem.size() < kMinVersionDigits || stem.size() > kMaxVersionDigits) return std::nullopt;
  if (!std::all_of(stem.begin(), stem.end(), [](char c) { return absl::ascii_isdigit(c); })) return std::nullopt;
  int64_t version = 0;
  if (!absl::SimpleAtoi(stem, &version)) return std::nullopt;
  return version;
}

std::optional<int64_t> ParseVersionFileName(absl::string_view name) {
  if (!absl::ConsumeSuffix(&name, kVersionFileSuffix)) return std::nullopt;
  return ParseVersionStem(name);
}

std::string CurrentFileContents(int64_t version) { return absl::StrCat(VersionStem(version), "\n"); }

// CURRENT must be one line, "v" + digits + "\n". LevelDB's rule: a missing
// newline means the write was cut short, so it is corruption, not a value.
absl::StatusOr<int64_t> ParseCurrentFile(absl::string_view contents) {
  absl::string_view line = contents;
  if (!absl::ConsumeSuffix(&line, "\n")) {
    return absl::DataLossError(absl::StrCat("expected one line ending in a newline, got \"",
                                            absl::CHexEscape(contents.substr(0, 40)), "\" (", contents.size(),
                                            " bytes, no final newline)"));
  }
  const std::optional<int64_t> version = ParseVersionStem(line);
  if (!version.has_value() || *version < 1) {
    return absl::DataLossError(
        absl::StrCat("expected \"v\" and 8 or more digits, got \"", absl::CHexEscape(line.substr(0, 40)), "\""));
  }
  return *version;
}

int64_t NowUnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

VersionInfo OnnxVersionInfo() {
  VersionInfo info;
  info.version = 1;
  info.parent = 0;
  info.origin = std::string(kOriginOnnx);
  info.note = "statistics stored in model.onnx";
  return info;
}

}  // namespace

FileStatsStore::FileStatsStore(FileSystem* fs, std::string stats_dir, std::vector<BnLayerInfo> layers,
                               std::shared_ptr<const StatsSnapshot> onnx_snapshot)
    : fs_(fs), stats_dir_(std::move(stats_dir)), layers_(std::move(layers)), onnx_snapshot_(std::move(onnx_snapshot)) {}

absl::StatusOr<std::shared_ptr<StatsStore>> FileStatsStoreProvider::Open(const StatsStoreModel& model) {
  BN_ASSIGN_OR_RETURN(std::unique_ptr<FileStatsStore> store,
                      FileStatsStore::Open(fs_, model.dir, model.layers, model.onnx_snapshot));
  return std::shared_ptr<StatsStore>(std::move(store));
}

absl::StatusOr<std::unique_ptr<FileStatsStore>> FileStatsStore::Open(
    FileSystem* fs, const std::string& model_dir, const std::vector<BnLayerInfo>& layers,
    std::shared_ptr<const StatsSnapshot> onnx_snapshot) {
  if (fs == nullptr) return absl::InvalidArgumentError("FileStatsStore::Open: file system is null");
  if (onnx_snapshot == nullptr) return absl::InvalidArgumentError("FileStatsStore::Open: ONNX snapshot is null");
  if (onnx_snapshot->version != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("FileStatsStore::Open: ONNX snapshot: expected version 1, got ", onnx_snapshot->version));
  }
  if (absl::Status s = ValidateSnapshot(layers, *onnx_snapshot); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("FileStatsStore::Open: ONNX snapshot of '", model_dir, "': ", s.message()));
  }
  std::unique_ptr<FileStatsStore> store(
      new FileStatsStore(fs, JoinPath(model_dir, kStatsDirName), layers, std::move(onnx_snapshot)));
  BN_RETURN_IF_ERROR(store->Recover());
  return store;
}

std::string FileStatsStore::VersionPath(int64_t version) const {
  return JoinPath(stats_dir_, absl::StrCat(VersionStem(version), kVersionFileSuffix));
}

std::string FileStatsStore::CurrentPath() const { return JoinPath(stats_dir_, kCurrentFileName); }

absl::Status FileStatsStore::Recover() {
  BN_RETURN_IF_ERROR(fs_->CreateDir(stats_dir_));
  BN_ASSIGN_OR_RETURN(DiskScan scan, ScanStatsDir());
  BN_ASSIGN_OR_RETURN(const int64_t current_version, ChooseServedVersion(&scan));
  std::vector<VersionInfo> lineage = Lineage(scan.intact, current_version);
  std::shared_ptr<const StatsSnapshot> snapshot = onnx_snapshot_;
  if (current_version != 1) {
    BN_ASSIGN_OR_RETURN(snapshot, LoadFromDisk(current_version));
  }
  std::lock_guard<std::mutex> lock(state_mu_);
  current_ = std::move(snapshot);
  history_ = std::move(lineage);
  next_version_ = scan.highest_seen + 1;
  return absl::OkStatus();
}

absl::StatusOr<FileStatsStore::DiskScan> FileStatsStore::ScanStatsDir() {
  BN_ASSIGN_OR_RETURN(const std::vector<std::string> names, fs_->ListDir(stats_dir_));
  DiskScan scan;
  for (const std::string& name : names) {
    const std::string path = JoinPath(stats_dir_, name);
    if (absl::EndsWith(name, kTempFileSuffix)) {
      // Only an interrupted commit leaves one; its target was never published.
      if (absl::Status s = fs_->RemoveFile(path); s.ok()) {
        recovery_warnings_.push_back(
            absl::StrCat("removed leftover temporary file '", path, "' (a commit was interrupted)"));
      } else {
        recovery_warnings_.push_back(
            absl::StrCat("could not remove leftover temporary file '", path, "': ", s.ToString()));
      }
      continue;
    }
    if (name == kCurrentFileName) {
      scan.current_exists = true;
      continue;
    }
    const std::optional<int64_t> version = ParseVersionFileName(name);
    if (!version.has_value()) continue;  // not ours; leave it alone
    scan.any_version_file = true;
    scan.highest_seen = std::max(scan.highest_seen, *version);
    BN_ASSIGN_OR_RETURN(std::optional<VersionInfo> info, ReadIntactVersion(path, *version));
    if (info.has_value()) scan.intact.emplace(*version, *std::move(info));
  }
  return scan;
}

absl::StatusOr<std::optional<VersionInfo>> FileStatsStore::ReadIntactVersion(const std::string& path, int64_t version) {
  if (version < 2) {
    recovery_warnings_.push_back(absl::StrCat("ignored '", path, "': version ", version,
                                              " is never stored (version 1 is model.onnx's statistics)"));
    return std::nullopt;
  }
  BN_ASSIGN_OR_RETURN(const std::string bytes, fs_->ReadFile(path));
  absl::StatusOr<StatsFileContents> contents = DecodeStatsFile(bytes, path);
  if (!contents.ok()) {
    recovery_warnings_.push_back(
        absl::StrCat("corrupt statistics file, left in place and not served: ", contents.status().message()));
    return std::nullopt;
  }
  if (contents->info.version != version) {
    recovery_warnings_.push_back(absl::StrCat("corrupt statistics file '", path,
                                              "', left in place and not served: ", "its name says version ", version,
                                              ", its contents say ", contents->info.version));
    return std::nullopt;
  }
  if (std::optional<std::string> mismatch = StatsFileLayerMismatch(layers_, *contents)) {
    recovery_warnings_.push_back(absl::StrCat("statistics file '", path,
                                              "' belongs to a different model (was model.onnx replaced?): ", *mismatch,
                                              "; ignored, left in place"));
    return std::nullopt;
  }
  if (absl::Status s = ValidateSnapshot(layers_, contents->snapshot); !s.ok()) {
    recovery_warnings_.push_back(absl::StrCat("statistics file '", path, "' is unfit for this model (", s.message(),
                                              "); ignored, left in place"));
    return std::nullopt;
  }
  return std::move(contents->info);
}

absl::StatusOr<int64_t> FileStatsStore::ChooseServedVersion(DiskScan* scan) {
  // Which version CURRENT names, if it is readable.
  std::optional<int64_t> named;
  std::string current_problem;
  if (scan->current_exists) {
    BN_ASSIGN_OR_RETURN(const std::string line, fs_->ReadFile(CurrentPath()));
    absl::StatusOr<int64_t> parsed = ParseCurrentFile(line);
    if (parsed.ok()) {
      named = *parsed;
      scan->highest_seen = std::max(scan->highest_seen, *named);
    } else {
      current_problem = absl::StrCat("'", CurrentPath(), "' is corrupt (", parsed.status().message(), ")");
    }
  } else if (scan->any_version_file) {
    current_problem = absl::StrCat("'", CurrentPath(), "' is missing although version files exist");
  }

  // The served version: CURRENT's when intact, else the newest intact version
  // not newer than it (any when CURRENT is unusable), else version 1.
  int64_t current_version = 1;
  if (named.has_value() && (*named == 1 || scan->intact.count(*named) > 0)) {
    current_version = *named;
  } else {
    const int64_t limit = named.value_or(std::numeric_limits<int64_t>::max());
    for (const auto& [version, info] : scan->intact) {
      if (version <= limit) current_version = version;
    }
    if (named.has_value()) {
      current_problem =
          absl::StrCat("'", CurrentPath(), "' names version ", *named, " whose file is missing, corrupt or unfit");
    }
  }
  if (!current_problem.empty()) {
    recovery_warnings_.push_back(absl::StrCat(current_problem, "; serving version ", current_version,
                                              ", the newest intact version", named ? " not newer than that" : "",
                                              " (CURRENT left as it is)"));
  }
  for (const auto& [version, info] : scan->intact) {
    if (version > current_version) {
      recovery_warnings_.push_back(absl::StrCat("'", VersionPath(version), "' is newer than the served version ",
                                                current_version,
                                                " (a commit interrupted before CURRENT was updated, or a "
                                                "fallback); kept on disk, not served"));
    }
  }
  return current_version;
}

std::vector<VersionInfo> FileStatsStore::Lineage(const std::map<int64_t, VersionInfo>& intact,
                                                 int64_t current_version) {
  // Parents are always older than their children, so this ends at version 1.
  std::vector<VersionInfo> lineage;
  for (int64_t v = current_version; v != 1;) {
    const VersionInfo& info = intact.at(v);
    lineage.push_back(info);
    const int64_t parent = info.parent;
    if (parent == 1 || intact.count(parent) > 0) {
      v = parent;
      continue;
    }
    // A damaged ancestor: continue with the newest intact version below it
    // so the history stays as complete as the disk allows.
    auto below = intact.lower_bound(parent);
    v = below == intact.begin() ? 1 : std::prev(below)->first;
    recovery_warnings_.push_back(absl::StrCat("history: version ", parent, ", parent of version ", info.version,
                                              ", is missing or unreadable; the history continues at version ", v));
  }
  lineage.push_back(OnnxVersionInfo());
  std::reverse(lineage.begin(), lineage.end());
  return lineage;
}

int64_t FileStatsStore::current_version() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return current_->version;
}

std::shared_ptr<const StatsSnapshot> FileStatsStore::current() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return current_;
}

std::vector<VersionInfo> FileStatsStore::History() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return history_;
}

absl::StatusOr<std::shared_ptr<const StatsSnapshot>> FileStatsStore::Load(int64_t version) const {
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    if (version == current_->version) return current_;
    const auto it = std::lower_bound(history_.begin(), history_.end(), version,
                                     [](const VersionInfo& info, int64_t v) { return info.version < v; });
    const bool known = it != history_.end() && it->version == version;
    if (!known) {
      return absl::NotFoundError(absl::StrCat("statistics version ", version, " is not in the history of '", stats_dir_,
                                              "' (current version ", current_->version, ")"));
    }
  }
  if (version == 1) return onnx_snapshot_;
  // Committed files are never rewritten, so reading without the lock is safe.
  return LoadFromDisk(version);
}

absl::StatusOr<std::shared_ptr<const StatsSnapshot>> FileStatsStore::LoadFromDisk(int64_t version) const {
  const std::string path = VersionPath(version);
  BN_ASSIGN_OR_RETURN(const std::string bytes, fs_->ReadFile(path));
  BN_ASSIGN_OR_RETURN(StatsFileContents contents, DecodeStatsFile(bytes, path));
  // Open validated this file; if it no longer matches, it was damaged since.
  if (contents.info.version != version) {
    return absl::DataLossError(absl::StrCat("stats file '", path, "': expected version ", version,
                                            ", its contents say ", contents.info.version));
  }
  if (std::optional<std::string> mismatch = StatsFileLayerMismatch(layers_, contents)) {
    return absl::DataLossError(absl::StrCat("stats file '", path, "' no longer matches the model: ", *mismatch));
  }
  return std::make_shared<const StatsSnapshot>(std::move(contents.snapshot));
}

absl::StatusOr<VersionInfo> FileStatsStore::Commit(const StatsSnapshot& stats, VersionInfo meta,
                                                   int64_t expected_parent, bool* deduplicated) {
  std::lock_guard<std::mutex> commit_lock(commit_mu_);
  return CommitLocked(stats, std::move(meta), expected_parent, deduplicated);
}

absl::StatusOr<std::optional<VersionInfo>> FileStatsStore::FindCommittedRequest(const VersionInfo& meta) const {
  if (meta.request_id.empty()) return std::nullopt;
  std::lock_guard<std::mutex> lock(state_mu_);
  // A linear scan: the history is in memory anyway, and a commit costs two
  // fsyncs, next to which a pass over even 10^5 entries is noise.
  for (auto it = history_.rbegin(); it != history_.rend(); ++it) {
    if (it->request_id != meta.request_id) continue;
    if (it->request_digest != meta.request_digest) {
      return absl::AlreadyExistsError(absl::StrFormat(
          "request_id '%s' was already used by version %d for a different request (its configuration or batches "
          "differ: request digest %08x, this one %08x); nothing was committed - a new recalibration needs a new "
          "request_id",
          absl::CHexEscape(meta.request_id), it->version, it->request_digest, meta.request_digest));
    }
    return *it;
  }
  return std::nullopt;
}

absl::StatusOr<VersionInfo> FileStatsStore::Rollback(int64_t to, int64_t expected_parent) {
  std::lock_guard<std::mutex> commit_lock(commit_mu_);
  BN_ASSIGN_OR_RETURN(std::shared_ptr<const StatsSnapshot> source, Load(to));
  VersionInfo meta;
  meta.origin = std::string(kOriginRollback);
  meta.note = absl::StrCat("rollback to version ", to);
  return CommitLocked(*source, std::move(meta), expected_parent, /*deduplicated=*/nullptr);
}

absl::StatusOr<VersionInfo> FileStatsStore::CommitLocked(const StatsSnapshot& stats, VersionInfo meta,
                                                         int64_t expected_parent, bool* deduplicated) {
  if (deduplicated != nullptr) *deduplicated = false;
  // Before the parent check: a retry of a commit that landed finds its
  // parent moved on (by itself), and must still be answered, not aborted.
  BN_ASSIGN_OR_RETURN(std::optional<VersionInfo> earlier, FindCommittedRequest(meta));
  if (earlier.has_value()) {
    if (deduplicated != nullptr) *deduplicated = true;
    return *std::move(earlier);
  }
  // Only commits change the state and they hold commit_mu_, so these stay
  // valid while the lock below is released for the I/O.
  int64_t parent;
  int64_t version;
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    parent = current_->version;
    version = next_version_;
  }
  if (expected_parent != parent) {
    return absl::AbortedError(absl::StrCat("commit to '", stats_dir_, "': expected to build on version ",
                                           expected_parent, " but the current version is ", parent));
  }
  if (absl::Status s = ValidateSnapshot(layers_, stats); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("commit to '", stats_dir_, "': ", s.message()));
  }
  if (meta.origin.empty()) meta.origin = std::string(kOriginRecalibrate);
  if (meta.origin == kOriginOnnx) {
    return absl::InvalidArgumentError(
        absl::StrCat("commit to '", stats_dir_, "': origin \"", kOriginOnnx, "\" is reserved for version 1"));
  }
  meta.version = version;
  meta.parent = parent;
  if (meta.created_unix_ms <= 0) meta.created_unix_ms = NowUnixMillis();

  StatsFileContents contents;
  contents.info = meta;
  contents.snapshot = stats;
  contents.snapshot.version = version;
  contents.layer_names.reserve(layers_.size());
  for (const BnLayerInfo& layer : layers_) contents.layer_names.push_back(layer.name);
  absl::StatusOr<std::string> bytes = EncodeStatsFile(contents);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("commit to '", stats_dir_, "': ", bytes.status().message()));
  }

  // The expensive part, with state_mu_ released: readers keep being served
  // the old version until the new one is durable.
  const std::string version_path = VersionPath(version);
  absl::Status status = WriteFileAtomically(fs_, version_path, *bytes);
  if (status.ok()) {
    bool current_renamed = false;
    status = WriteFileAtomically(fs_, CurrentPath(), CurrentFileContents(version), &current_renamed);
    if (!status.ok() && current_renamed) {
      // CURRENT already names the new version but may not be durable. Put the
      // old name back the same way, so a restart serves the version we still
      // serve. If even that fails, the disk decides which of the two a
      // restart sees - both are complete - and the new file must stay.
      if (absl::Status restore = WriteFileAtomically(fs_, CurrentPath(), CurrentFileContents(parent)); !restore.ok()) {
        std::lock_guard<std::mutex> lock(state_mu_);
        next_version_ = version + 1;  // never reuse the number of a file that stays
        return absl::Status(status.code(), absl::StrCat("commit of version ", version, " to '", stats_dir_,
                                                        "' failed: ", status.message(),
                                                        "; restoring CURRENT failed too: ", restore.message()));
      }
    }
  }
  if (!status.ok()) {
    // The new file was never published (or its publication was undone).
    // Remove it so nothing on disk changed; if that fails too, skip its number.
    const absl::Status removed = fs_->RemoveFile(version_path);
    if (!removed.ok() && !absl::IsNotFound(removed)) {
      std::lock_guard<std::mutex> lock(state_mu_);
      next_version_ = version + 1;
    }
    return absl::Status(status.code(), absl::StrCat("commit of version ", version, " to '", stats_dir_,
                                                    "' failed: ", status.message()));
  }

  MaybeCrashAt("after_current");  // durable on disk, not yet served nor acknowledged
  auto snapshot = std::make_shared<const StatsSnapshot>(std::move(contents.snapshot));
  std::lock_guard<std::mutex> lock(state_mu_);
  current_ = std::move(snapshot);
  history_.push_back(meta);
  next_version_ = version + 1;
  return meta;
}

}  // namespace bnserve
