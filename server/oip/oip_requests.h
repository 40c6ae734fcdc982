// The Open Inference Protocol's requests (package inference, the KServe v2
// protocol), gRPC-free like server/requests.h: each function converts the
// request, makes one ModelManager call and converts the answer. The gRPC
// service (oip_service.h) and the HTTP/JSON routes (oip_http.h) both call
// these, and ModelInferImpl reaches the same ModelManager::Predict as
// bnserve.v1's Predict, so the three answer bit for bit alike.
//
// Mapping: model_version / version is a bnserve statistics version as a
// decimal string (empty = the served one); FP32 is the one datatype; the
// tensor data is fp32_contents or raw_input_contents, and the response uses
// the form of the request. Errors name the field, e.g.
// "inputs[0].datatype: expected \"FP32\" ...".
#pragma once

#include <cstdint>

#include "absl/strings/string_view.h"
#include "core/serving/model_manager.h"
#include "inference/grpc_predict_v2.pb.h"

namespace bnserve {

// The one datatype bnserve computes in, as the protocol spells it.
inline constexpr absl::string_view kOipFp32 = "FP32";

// "" -> the served version; a decimal >= 1 -> that version;
// INVALID_ARGUMENT naming `field` otherwise.
absl::StatusOr<VersionRequest> OipVersionFromString(absl::string_view text, absl::string_view field);

void ServerMetadataImpl(inference::ServerMetadataResponse* response);
absl::Status ModelReadyImpl(const ModelManager& manager, const inference::ModelReadyRequest& request,
                            inference::ModelReadyResponse* response);
absl::Status ModelMetadataImpl(const ModelManager& manager, const inference::ModelMetadataRequest& request,
                               inference::ModelMetadataResponse* response);
// `samples`, when given, receives the batch rows computed (for the metrics).
absl::Status ModelInferImpl(const ModelManager& manager, const inference::ModelInferRequest& request,
                            inference::ModelInferResponse* response, int64_t* samples = nullptr);

}  // namespace bnserve
