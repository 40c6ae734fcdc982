#include "absl/strings/str_cat.h"
#include "server/proto_convert.h"
#include "server/requests.h"

namespace bnserve {

absl::Status ListVersionsImpl(const ModelManager& manager, const v1::ListVersionsRequest& request,
                              v1::ListVersionsResponse* response) {
  BN_ASSIGN_OR_RETURN(std::vector<VersionInfo> history, manager.History(request.model()));
  response->set_model(request.model());
  response->set_current_version(history.empty() ? 0 : history.back().version);
  for (const VersionInfo& info : history) VersionInfoToProto(info, response->add_versions());
  return absl::OkStatus();
}

absl::Status RollbackImpl(ModelManager& manager, const v1::RollbackRequest& request, v1::RollbackResponse* response) {
  if (request.to_version() < 1) {
    return absl::InvalidArgumentError(absl::StrCat("to_version: expected a version >= 1, got ", request.to_version()));
  }
  if (request.expected_version() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected_version: expected 0 (don't check) or a version >= 1, got ", request.expected_version()));
  }
  BN_ASSIGN_OR_RETURN(VersionInfo info,
                      manager.Rollback(request.model(), request.to_version(), request.expected_version()));
  response->set_model(request.model());
  VersionInfoToProto(info, response->mutable_new_version());
  return absl::OkStatus();
}

absl::StatusOr<ExportedModel> ExportImpl(const ModelManager& manager, const v1::ExportRequest& request) {
  BN_ASSIGN_OR_RETURN(VersionRequest version,
                      VersionRequestFromProto(request.statistics_version(), "statistics_version"));
  return manager.Export(request.model(), version);
}

}  // namespace bnserve
