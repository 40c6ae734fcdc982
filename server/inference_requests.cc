#include <optional>

#include "absl/strings/str_cat.h"
#include "core/serving/prediction.h"
#include "server/proto_convert.h"
#include "server/requests.h"

namespace bnserve {
namespace {

void EncodePrediction(const v1::PredictRequest& request, const Prediction& prediction, v1::PredictResponse* response) {
  const v1::TensorEncoding encoding = ResolveEncoding(request.output_encoding(), request.inputs());
  response->set_model(request.model());
  response->set_statistics_version(prediction.bundle().info.version);
  for (int i = 0; i < prediction.num_outputs(); ++i) {
    EncodeTensor(prediction.output_name(i), prediction.output(i), encoding, response->add_outputs());
  }
}

absl::StatusOr<Prediction> PredictWithCandidate(const ModelManager& manager, AdaptationManager* adapt,
                                                const v1::PredictRequest& request, DecodedTensors& inputs) {
  if (request.candidate_id() < 0 || request.statistics_version() != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "candidate_id: expected a staged candidate (>= 1) and statistics_version 0, got candidate_id ",
        request.candidate_id(), " with statistics_version ", request.statistics_version()));
  }
  if (adapt == nullptr) return absl::FailedPreconditionError("candidate_id: this server keeps no candidates");
  BN_ASSIGN_OR_RETURN(std::shared_ptr<const ServingBundle> bundle, adapt->Candidate(request.model(), request.candidate_id()));
  return manager.PredictWithBundle(std::move(bundle), inputs.names, absl::MakeSpan(inputs.views));
}

}  // namespace

absl::Status PredictImpl(const ModelManager& manager, AdaptationManager* adapt, const v1::PredictRequest& request,
                         v1::PredictResponse* response, int64_t* samples) {
  DecodedTensors inputs;
  if (request.candidate_id() != 0) {
    BN_RETURN_IF_ERROR(DecodeTensors(request.inputs(), "inputs", &inputs));
    BN_ASSIGN_OR_RETURN(Prediction prediction, PredictWithCandidate(manager, adapt, request, inputs));
    EncodePrediction(request, prediction, response);
    response->set_candidate_id(request.candidate_id());
    if (samples != nullptr) *samples = prediction.samples();
    return absl::OkStatus();
  }
  BN_ASSIGN_OR_RETURN(VersionRequest version,
                      VersionRequestFromProto(request.statistics_version(), "statistics_version"));
  BN_RETURN_IF_ERROR(DecodeTensors(request.inputs(), "inputs", &inputs));
  BN_ASSIGN_OR_RETURN(Prediction prediction,
                      manager.Predict(request.model(), version, inputs.names, absl::MakeSpan(inputs.views)));
  EncodePrediction(request, prediction, response);
  if (samples != nullptr) *samples = prediction.samples();
  return absl::OkStatus();
}

std::optional<absl::Status> TryPredictInline(const ModelManager& manager, const v1::PredictRequest& request,
                                             v1::PredictResponse* response, int64_t* samples) {
  if (request.statistics_version() != 0 || request.candidate_id() != 0) return std::nullopt;
  // Decoding only views the request's floats (it copies just raw bytes that
  // protobuf left misaligned), so a call that then goes to the pool pays
  // little more than parsing its shapes twice.
  DecodedTensors inputs;
  if (!DecodeTensors(request.inputs(), "inputs", &inputs).ok()) return std::nullopt;
  std::optional<absl::StatusOr<Prediction>> prediction =
      manager.TryPredictInline(request.model(), inputs.names, absl::MakeSpan(inputs.views));
  if (!prediction.has_value()) return std::nullopt;
  if (!prediction->ok()) return prediction->status();
  EncodePrediction(request, **prediction, response);
  if (samples != nullptr) *samples = (*prediction)->samples();
  return absl::OkStatus();
}

}  // namespace bnserve
