#include <vector>

#include "absl/strings/str_cat.h"
#include "core/stats/moments.h"
#include "server/proto_convert.h"
#include "server/requests.h"

namespace bnserve {

absl::Status GetRunningStatsImpl(const ModelManager& manager, const v1::GetRunningStatsRequest& request,
                                 v1::GetRunningStatsResponse* response) {
  BN_ASSIGN_OR_RETURN(VersionRequest version,
                      VersionRequestFromProto(request.statistics_version(), "statistics_version"));
  const std::vector<std::string> layers(request.layers().begin(), request.layers().end());
  BN_ASSIGN_OR_RETURN(RunningStatsView view, manager.RunningStats(request.model(), version, layers));
  response->set_model(request.model());
  RunningStatsToProto(view, request.include_affine(), response);
  return absl::OkStatus();
}

namespace {

// The batch statistics of `inputs` as `request` (its parameters) asks.
absl::Status ComputeAndFill(const ModelManager& manager, const v1::GetBatchStatsRequest& request,
                            absl::Span<const TensorView> inputs, v1::GetBatchStatsResponse* response) {
  BN_ASSIGN_OR_RETURN(VersionRequest version,
                      VersionRequestFromProto(request.statistics_version(), "statistics_version"));
  BN_ASSIGN_OR_RETURN(ForwardMode mode, ForwardModeFromProto(request.forward_mode(), "forward_mode"));
  BN_ASSIGN_OR_RETURN(BatchStatsReport report,
                      manager.BatchStatistics(request.model(), version, inputs, mode, request.sort_by_drift()));
  BatchStatsToProto(request.model(), report, response);
  return absl::OkStatus();
}

// A later chunk's parameter must be unset or repeat the first message's.
template <typename T>
absl::Status CheckRepeated(absl::string_view field, const T& first, const T& chunk, const T& unset) {
  if (chunk == unset || chunk == first) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": expected it unset or equal to the first message's (", first, "), got ", chunk));
}

}  // namespace

absl::Status GetBatchStatsImpl(const ModelManager& manager, const v1::GetBatchStatsRequest& request,
                               v1::GetBatchStatsResponse* response) {
  DecodedTensors inputs;
  BN_RETURN_IF_ERROR(DecodeTensors(request.inputs(), "inputs", &inputs));
  return ComputeAndFill(manager, request, inputs.views, response);
}

absl::Status BatchStatsStream::Add(const v1::GetBatchStatsRequest& chunk) {
  if (!started_) {
    header_ = chunk;
    header_.clear_inputs();
    started_ = true;
  } else {
    BN_RETURN_IF_ERROR(CheckRepeated<std::string>("model", header_.model(), chunk.model(), ""));
    BN_RETURN_IF_ERROR(
        CheckRepeated<int64_t>("statistics_version", header_.statistics_version(), chunk.statistics_version(), 0));
    BN_RETURN_IF_ERROR(CheckRepeated<int>("forward_mode", header_.forward_mode(), chunk.forward_mode(), 0));
    BN_RETURN_IF_ERROR(CheckRepeated<bool>("sort_by_drift", header_.sort_by_drift(), chunk.sort_by_drift(), false));
  }
  DecodedTensors inputs;
  BN_RETURN_IF_ERROR(DecodeTensors(chunk.inputs(), "inputs", &inputs));
  return assembler_.Append(inputs.views);
}

absl::Status BatchStatsStream::Finish(const ModelManager& manager, v1::GetBatchStatsResponse* response) const {
  if (!started_) {
    return absl::InvalidArgumentError("GetBatchStatsStream: expected at least one message, got none");
  }
  return ComputeAndFill(manager, header_, assembler_.views(), response);
}

absl::Status MomentsImpl(const v1::MomentsRequest& request, v1::MomentsResponse* response) {
  DecodedTensors x;
  BN_RETURN_IF_ERROR(DecodeTensor(request.x(), "x", &x));
  const std::vector<int64_t> axes(request.axes().begin(), request.axes().end());
  BN_ASSIGN_OR_RETURN(MomentsResult moments, ComputeMoments(x.views[0], axes, request.keep_dims()));
  for (int64_t d : moments.shape) response->add_shape(d);
  response->mutable_mean()->Add(moments.mean.begin(), moments.mean.end());
  response->mutable_variance()->Add(moments.variance.begin(), moments.variance.end());
  return absl::OkStatus();
}

}  // namespace bnserve
