#include "core/prediction.h"
#include "server/proto_convert.h"
#include "server/requests.h"

namespace bnserve {

absl::Status PredictImpl(const ModelManager& manager, const v1::PredictRequest& request,
                         v1::PredictResponse* response, std::shared_ptr<const ServingBundle> served) {
  BN_ASSIGN_OR_RETURN(VersionRequest version,
                      VersionRequestFromProto(request.statistics_version(), "statistics_version"));
  DecodedTensors inputs;
  BN_RETURN_IF_ERROR(DecodeTensors(request.inputs(), "inputs", &inputs));
  BN_ASSIGN_OR_RETURN(Prediction prediction,
                      served != nullptr
                          ? RunPrediction(std::move(served), inputs.names, absl::MakeSpan(inputs.views), manager.predict_pool())
                          : manager.Predict(request.model(), version, inputs.names, absl::MakeSpan(inputs.views)));
  const v1::TensorEncoding encoding = ResolveEncoding(request.output_encoding(), request.inputs());
  response->set_model(request.model());
  response->set_statistics_version(prediction.bundle().info.version);
  for (int i = 0; i < prediction.num_outputs(); ++i) {
    EncodeTensor(prediction.output_name(i), prediction.output(i), encoding, response->add_outputs());
  }
  return absl::OkStatus();
}

}  // namespace bnserve
