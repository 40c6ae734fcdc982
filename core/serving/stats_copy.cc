#include "core/serving/stats_copy.h"

#include "absl/strings/str_cat.h"
#include "core/model/model.h"
#include "core/model/model_name.h"

namespace bnserve {

absl::StatusOr<int64_t> CopyStatsHistory(const StatsStore& from, StatsStore& to, std::vector<std::string>* renumbered) {
  if (to.current_version() != 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("the destination already holds versions up to ", to.current_version(),
                     "; copying would mix two histories (start from an empty destination)"));
  }
  int64_t copied = 0;
  for (const VersionInfo& source : from.History()) {
    if (source.version == 1) continue;
    BN_ASSIGN_OR_RETURN(std::shared_ptr<const StatsSnapshot> stats, from.Load(source.version));
    VersionInfo meta = source;
    meta.version = 0;  // the destination numbers it
    meta.parent = 0;
    BN_ASSIGN_OR_RETURN(VersionInfo written, to.Commit(*stats, meta, to.current_version()));
    if (written.version != source.version && renumbered != nullptr) {
      renumbered->push_back(absl::StrCat("version ", source.version, " is version ", written.version, " there"));
    }
    ++copied;
  }
  return copied;
}

absl::StatusOr<std::vector<ModelStatsCopy>> CopyRepositoryStats(FileSystem* fs, const std::string& repository,
                                                                StatsStoreProvider& from, StatsStoreProvider& to) {
  BN_ASSIGN_OR_RETURN(std::vector<std::string> names, fs->ListDir(repository));
  std::vector<ModelStatsCopy> copies;
  for (const std::string& name : names) {
    const std::string dir = JoinPath(repository, name);
    if (!ValidateModelName(name).ok() || !fs->FileExists(JoinPath(dir, "model.onnx"))) continue;
    auto in_model = [&](const absl::Status& status) {
      return absl::Status(status.code(), absl::StrCat("model '", name, "': ", status.message()));
    };
    absl::StatusOr<std::shared_ptr<const Model>> model = Model::LoadFromFile(JoinPath(dir, "model.onnx"));
    if (!model.ok()) return in_model(model.status());
    const StatsStoreModel store_model{name, dir, (*model)->bn_layers(), (*model)->file_stats()};
    absl::StatusOr<std::shared_ptr<StatsStore>> source = from.Open(store_model);
    if (!source.ok()) return in_model(source.status());
    absl::StatusOr<std::shared_ptr<StatsStore>> destination = to.Open(store_model);
    if (!destination.ok()) return in_model(destination.status());
    ModelStatsCopy copy;
    copy.model = name;
    absl::StatusOr<int64_t> copied = CopyStatsHistory(**source, **destination, &copy.renumbered);
    if (!copied.ok()) return in_model(copied.status());
    copy.versions = *copied;
    copies.push_back(std::move(copy));
  }
  return copies;
}

}  // namespace bnserve
