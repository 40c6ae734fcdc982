#include "server/proto_convert.h"
#include "server/requests.h"

namespace bnserve {

absl::Status ListModelsImpl(const ModelManager& manager, const ServiceLimits& limits,
                            const v1::ListModelsRequest& request, v1::ListModelsResponse* response) {
  for (const ModelStatus& status : manager.List()) ModelStatusToProto(status, response->add_models());
  response->set_max_message_bytes(limits.max_message_bytes);
  return absl::OkStatus();
}

absl::Status DescribeModelImpl(const ModelManager& manager, const v1::DescribeModelRequest& request,
                               v1::DescribeModelResponse* response) {
  BN_ASSIGN_OR_RETURN(ModelDescription description, manager.Describe(request.model()));
  DescriptionToProto(description, response);
  return absl::OkStatus();
}

absl::Status LoadModelImpl(ModelManager& manager, const v1::LoadModelRequest& request,
                           v1::LoadModelResponse* response) {
  BN_ASSIGN_OR_RETURN(ModelStatus status, manager.Load(request.model()));
  ModelStatusToProto(status, response->mutable_status());
  return absl::OkStatus();
}

absl::Status ReloadModelImpl(ModelManager& manager, const v1::ReloadModelRequest& request,
                             v1::ReloadModelResponse* response) {
  BN_ASSIGN_OR_RETURN(ModelStatus status, manager.Reload(request.model()));
  ModelStatusToProto(status, response->mutable_status());
  return absl::OkStatus();
}

absl::Status UnloadModelImpl(ModelManager& manager, const v1::UnloadModelRequest& request,
                             v1::UnloadModelResponse* response) {
  BN_ASSIGN_OR_RETURN(ModelStatus status, manager.Unload(request.model()));
  ModelStatusToProto(status, response->mutable_status());
  return absl::OkStatus();
}

}  // namespace bnserve
