#include "server/oip/oip_requests.h"

#include <algorithm>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/serving/prediction.h"
#include "server/tensor_codec.h"

namespace bnserve {
namespace {

absl::Status RequireName(const std::string& name, absl::string_view field) {
  if (!name.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(field, ": expected a model name, got an empty string"));
}

// Whether `contents` holds data of any datatype other than FP32.
const char* OtherContentsField(const inference::InferTensorContents& contents) {
  if (contents.bool_contents_size() > 0) return "bool_contents";
  if (contents.int_contents_size() > 0) return "int_contents";
  if (contents.int64_contents_size() > 0) return "int64_contents";
  if (contents.uint_contents_size() > 0) return "uint_contents";
  if (contents.uint64_contents_size() > 0) return "uint64_contents";
  if (contents.fp64_contents_size() > 0) return "fp64_contents";
  if (contents.bytes_contents_size() > 0) return "bytes_contents";
  return nullptr;
}

absl::Status DecodeInput(const inference::ModelInferRequest& request, int i, DecodedTensors* out) {
  const inference::ModelInferRequest::InferInputTensor& input = request.inputs(i);
  const std::string field = absl::StrCat("inputs[", i, "]");
  if (input.datatype() != kOipFp32) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".datatype: expected \"", kOipFp32,
                                                   "\" (the one datatype bnserve computes in), got \"",
                                                   input.datatype(), "\""));
  }
  BN_ASSIGN_OR_RETURN(Shape shape, Shape::FromDims(absl::MakeConstSpan(input.shape().data(), input.shape().size()),
                                                   absl::StrCat(field, ".shape")));
  const inference::InferTensorContents& contents = input.contents();
  if (const char* other = OtherContentsField(contents); other != nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".contents: expected FP32 data in fp32_contents, got ", other));
  }
  if (request.raw_input_contents_size() > 0) {
    if (contents.fp32_contents_size() > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".contents: expected no contents when raw_input_contents is used, got ",
                       contents.fp32_contents_size(), " fp32_contents"));
    }
    return out->AddRawFloat32(input.name(), shape, request.raw_input_contents(i),
                              absl::StrCat("raw_input_contents[", i, "]"));
  }
  return out->AddValues(input.name(), shape, contents.fp32_contents().data(), contents.fp32_contents_size(),
                        absl::StrCat(field, ".contents.fp32_contents"));
}

// Indices of the outputs to return: all, or those requested, in request order.
absl::StatusOr<std::vector<int>> SelectOutputs(const inference::ModelInferRequest& request,
                                               const Prediction& prediction) {
  std::vector<int> selected;
  if (request.outputs_size() == 0) {
    for (int i = 0; i < prediction.num_outputs(); ++i) selected.push_back(i);
    return selected;
  }
  std::vector<std::string> names;
  for (int i = 0; i < prediction.num_outputs(); ++i) names.push_back(prediction.output_name(i));
  for (int r = 0; r < request.outputs_size(); ++r) {
    const std::string& wanted = request.outputs(r).name();
    auto it = std::find(names.begin(), names.end(), wanted);
    if (it == names.end()) {
      return absl::InvalidArgumentError(absl::StrCat("outputs[", r, "].name: expected one of [",
                                                     absl::StrJoin(names, ", "), "], got \"", wanted, "\""));
    }
    selected.push_back(static_cast<int>(it - names.begin()));
  }
  return selected;
}

void TensorMetadataOf(const ValueInfo& value, inference::ModelMetadataResponse::TensorMetadata* out) {
  out->set_name(value.name);
  out->set_datatype(std::string(kOipFp32));
  for (const Dim& dim : value.dims) out->add_shape(dim.symbolic() ? -1 : dim.size);
}

}  // namespace

absl::StatusOr<VersionRequest> OipVersionFromString(absl::string_view text, absl::string_view field) {
  if (text.empty()) return VersionRequest::Current();
  int64_t version = 0;
  if (!absl::SimpleAtoi(text, &version) || version < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": expected empty (the served version) or a statistics version >= 1, got \"", text, "\""));
  }
  return VersionRequest::Specific(version);
}

void ServerMetadataImpl(inference::ServerMetadataResponse* response) {
  response->set_name("bnserve");
  response->set_version(BNSERVE_VERSION);
}

absl::Status ModelReadyImpl(const ModelManager& manager, const inference::ModelReadyRequest& request,
                            inference::ModelReadyResponse* response) {
  BN_RETURN_IF_ERROR(RequireName(request.name(), "name"));
  BN_ASSIGN_OR_RETURN(VersionRequest version, OipVersionFromString(request.version(), "version"));
  BN_ASSIGN_OR_RETURN(ModelDescription description, manager.Describe(request.name()));
  bool ready = description.status.state == ModelState::kAvailable;
  if (ready && !version.is_current()) {
    BN_ASSIGN_OR_RETURN(std::vector<VersionInfo> history, manager.History(request.name()));
    ready = std::any_of(history.begin(), history.end(),
                        [&](const VersionInfo& info) { return info.version == version.version(); });
  }
  response->set_ready(ready);
  return absl::OkStatus();
}

absl::Status ModelMetadataImpl(const ModelManager& manager, const inference::ModelMetadataRequest& request,
                               inference::ModelMetadataResponse* response) {
  BN_RETURN_IF_ERROR(RequireName(request.name(), "name"));
  BN_ASSIGN_OR_RETURN(VersionRequest version, OipVersionFromString(request.version(), "version"));
  BN_ASSIGN_OR_RETURN(ModelDescription description, manager.Describe(request.name()));
  if (description.bundle == nullptr) {
    return absl::UnavailableError(absl::StrCat("model '", request.name(), "' is not available (state ",
                                               ModelStateName(description.status.state), ")"));
  }
  BN_ASSIGN_OR_RETURN(std::vector<VersionInfo> history, manager.History(request.name()));
  if (!version.is_current() && std::none_of(history.begin(), history.end(), [&](const VersionInfo& info) {
        return info.version == version.version();
      })) {
    return absl::NotFoundError(
        absl::StrCat("version: model '", request.name(), "' has no statistics version ", version.version()));
  }
  response->set_name(request.name());
  for (const VersionInfo& info : history) response->add_versions(absl::StrCat(info.version));
  response->set_platform("bnserve_onnx");
  const Model& model = *description.bundle->model;
  for (const ValueInfo& input : model.graph().inputs) TensorMetadataOf(input, response->add_inputs());
  for (const ValueInfo& output : model.graph().outputs) TensorMetadataOf(output, response->add_outputs());
  return absl::OkStatus();
}

absl::Status ModelInferImpl(const ModelManager& manager, const inference::ModelInferRequest& request,
                            inference::ModelInferResponse* response, int64_t* samples) {
  BN_RETURN_IF_ERROR(RequireName(request.model_name(), "model_name"));
  BN_ASSIGN_OR_RETURN(VersionRequest version, OipVersionFromString(request.model_version(), "model_version"));
  const bool raw = request.raw_input_contents_size() > 0;
  if (raw && request.raw_input_contents_size() != request.inputs_size()) {
    return absl::InvalidArgumentError(absl::StrCat("raw_input_contents: expected one entry per input (",
                                                   request.inputs_size(), "), got ",
                                                   request.raw_input_contents_size()));
  }
  DecodedTensors inputs;
  for (int i = 0; i < request.inputs_size(); ++i) BN_RETURN_IF_ERROR(DecodeInput(request, i, &inputs));
  BN_ASSIGN_OR_RETURN(Prediction prediction,
                      manager.Predict(request.model_name(), version, inputs.names, absl::MakeSpan(inputs.views)));
  BN_ASSIGN_OR_RETURN(std::vector<int> selected, SelectOutputs(request, prediction));
  response->set_model_name(request.model_name());
  response->set_model_version(absl::StrCat(prediction.bundle().info.version));
  response->set_id(request.id());
  for (int i : selected) {
    const TensorView view = prediction.output(i);
    inference::ModelInferResponse::InferOutputTensor* output = response->add_outputs();
    output->set_name(prediction.output_name(i));
    output->set_datatype(std::string(kOipFp32));
    for (int64_t d : view.shape) output->add_shape(d);
    if (raw) {
      CopyToLittleEndian(view.data, view.size(), response->add_raw_output_contents());
    } else {
      output->mutable_contents()->mutable_fp32_contents()->Add(view.data, view.data + view.size());
    }
  }
  if (samples != nullptr) *samples = prediction.samples();
  return absl::OkStatus();
}

}  // namespace bnserve
