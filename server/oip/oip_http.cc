#include "server/oip/oip_http.h"

#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "server/oip/oip_requests.h"

namespace bnserve {
namespace {

using nlohmann::json;

// A parsed /v2/models/... path.
struct ModelPath {
  std::string name;
  std::string version;  // "" = the served one
  std::string action;   // "", "ready" or "infer"
};

// /v2/models/{name}[/versions/{v}][/ready|/infer]; nullopt for other shapes.
std::optional<ModelPath> ParseModelPath(absl::string_view path) {
  std::vector<absl::string_view> parts = absl::StrSplit(path, '/', absl::SkipEmpty());
  if (parts.size() < 3 || parts[0] != "v2" || parts[1] != "models") return std::nullopt;
  ModelPath out;
  out.name = std::string(parts[2]);
  size_t next = 3;
  if (parts.size() >= 5 && parts[3] == "versions") {
    out.version = std::string(parts[4]);
    next = 5;
  }
  if (next + 1 == parts.size() && (parts[next] == "ready" || parts[next] == "infer")) {
    out.action = std::string(parts[next]);
  } else if (next != parts.size()) {
    return std::nullopt;
  }
  return out;
}

HttpResponse Json(int status, const json& body) { return {status, "application/json", body.dump()}; }

HttpResponse Error(const absl::Status& status) {
  return Json(HttpStatusFromCode(status.code()), json{{"error", std::string(status.message())}});
}

absl::Status Authorize(const HttpEnv& env, const HttpRequest& request, const char* rpc) {
  return env.auth == nullptr ? absl::OkStatus() : env.auth->Check(rpc, request.authorization);
}

// Appends the numbers of `data` (flat or nested row-major arrays, as the
// protocol allows) to `out`; INVALID_ARGUMENT naming the element.
absl::Status FlattenNumbers(const json& data, const std::string& field, google::protobuf::RepeatedField<float>* out) {
  if (data.is_number()) {
    out->Add(data.get<float>());
    return absl::OkStatus();
  }
  if (!data.is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": expected a number or an array, got ", data.type_name()));
  }
  for (size_t i = 0; i < data.size(); ++i) {
    BN_RETURN_IF_ERROR(FlattenNumbers(data[i], absl::StrCat(field, "[", i, "]"), out));
  }
  return absl::OkStatus();
}

// The protocol's JSON inference request as its protobuf form.
absl::Status InferRequestFromJson(const json& body, const ModelPath& path, inference::ModelInferRequest* out) {
  if (!body.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("request body: expected a JSON object, got ", body.type_name()));
  }
  out->set_model_name(path.name);
  out->set_model_version(path.version);
  if (body.contains("id")) {
    if (!body["id"].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("id: expected a string, got ", body["id"].type_name()));
    }
    out->set_id(body["id"].get<std::string>());
  }
  if (!body.contains("inputs") || !body["inputs"].is_array()) {
    return absl::InvalidArgumentError("inputs: expected an array of tensors {name, shape, datatype, data}");
  }
  const json& inputs = body["inputs"];
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string field = absl::StrCat("inputs[", i, "]");
    const json& input = inputs[i];
    if (!input.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": expected an object, got ", input.type_name()));
    }
    for (const char* key : {"name", "datatype"}) {
      if (!input.contains(key) || !input[key].is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(field, ".", key, ": expected a string"));
      }
    }
    if (!input.contains("shape") || !input["shape"].is_array()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".shape: expected an array of integers"));
    }
    inference::ModelInferRequest::InferInputTensor* tensor = out->add_inputs();
    tensor->set_name(input["name"].get<std::string>());
    tensor->set_datatype(input["datatype"].get<std::string>());
    for (size_t d = 0; d < input["shape"].size(); ++d) {
      const json& dim = input["shape"][d];
      if (!dim.is_number_integer()) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ".shape[", d, "]: expected an integer, got ", dim.dump()));
      }
      tensor->add_shape(dim.get<int64_t>());
    }
    if (!input.contains("data")) return absl::InvalidArgumentError(absl::StrCat(field, ".data: expected the values"));
    if (tensor->datatype() != kOipFp32) continue;  // ModelInferImpl names the datatype
    BN_RETURN_IF_ERROR(FlattenNumbers(input["data"], absl::StrCat(field, ".data"),
                                      tensor->mutable_contents()->mutable_fp32_contents()));
  }
  if (body.contains("outputs")) {
    const json& outputs = body["outputs"];
    if (!outputs.is_array()) return absl::InvalidArgumentError("outputs: expected an array of {name}");
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (!outputs[i].is_object() || !outputs[i].contains("name") || !outputs[i]["name"].is_string()) {
        return absl::InvalidArgumentError(absl::StrCat("outputs[", i, "].name: expected a string"));
      }
      out->add_outputs()->set_name(outputs[i]["name"].get<std::string>());
    }
  }
  return absl::OkStatus();
}

json InferResponseToJson(const inference::ModelInferResponse& response) {
  json outputs = json::array();
  for (const auto& output : response.outputs()) {
    outputs.push_back({{"name", output.name()},
                       {"datatype", output.datatype()},
                       {"shape", std::vector<int64_t>(output.shape().begin(), output.shape().end())},
                       {"data", std::vector<float>(output.contents().fp32_contents().begin(),
                                                   output.contents().fp32_contents().end())}});
  }
  json body = {{"model_name", response.model_name()},
               {"model_version", response.model_version()},
               {"outputs", std::move(outputs)}};
  if (!response.id().empty()) body["id"] = response.id();
  return body;
}

json MetadataToJson(const inference::ModelMetadataResponse& response) {
  auto tensors = [](const auto& list) {
    json out = json::array();
    for (const auto& tensor : list) {
      out.push_back({{"name", tensor.name()},
                     {"datatype", tensor.datatype()},
                     {"shape", std::vector<int64_t>(tensor.shape().begin(), tensor.shape().end())}});
    }
    return out;
  };
  return {{"name", response.name()},
          {"versions", std::vector<std::string>(response.versions().begin(), response.versions().end())},
          {"platform", response.platform()},
          {"inputs", tensors(response.inputs())},
          {"outputs", tensors(response.outputs())}};
}

HttpResponse Infer(const HttpEnv& env, const HttpRequest& request, const ModelPath& path) {
  const auto start = std::chrono::steady_clock::now();
  absl::Status status = Authorize(env, request, "ModelInfer");
  inference::ModelInferRequest infer;
  inference::ModelInferResponse response;
  int64_t samples = 0;
  if (status.ok()) {
    json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    status = body.is_discarded()
                 ? absl::InvalidArgumentError("request body: expected a JSON object, got text that is not JSON")
                 : InferRequestFromJson(body, path, &infer);
  }
  if (status.ok()) status = ModelInferImpl(*env.manager, infer, &response, &samples);
  if (env.metrics != nullptr) {
    env.metrics->RecordCall("http/ModelInfer", path.name, status.code(), start);
    if (samples > 0) env.metrics->AddInferenceSamples(path.name, samples);
  }
  return status.ok() ? Json(200, InferResponseToJson(response)) : Error(status);
}

HttpResponse ModelRoute(const HttpEnv& env, const HttpRequest& request, const ModelPath& path) {
  if (path.action == "infer") {
    if (request.method != "POST") return JsonError(405, "infer: expected POST, got " + request.method);
    return Infer(env, request, path);
  }
  if (request.method != "GET") return JsonError(405, request.path + ": expected GET, got " + request.method);
  if (path.action == "ready") {
    inference::ModelReadyRequest ready;
    ready.set_name(path.name);
    ready.set_version(path.version);
    inference::ModelReadyResponse response;
    absl::Status status = Authorize(env, request, "ModelReady");
    if (status.ok()) status = ModelReadyImpl(*env.manager, ready, &response);
    if (!status.ok()) return Error(status);
    return Json(response.ready() ? 200 : 400, json{{"name", path.name}, {"ready", response.ready()}});
  }
  inference::ModelMetadataRequest metadata;
  metadata.set_name(path.name);
  metadata.set_version(path.version);
  inference::ModelMetadataResponse response;
  absl::Status status = Authorize(env, request, "ModelMetadata");
  if (status.ok()) status = ModelMetadataImpl(*env.manager, metadata, &response);
  return status.ok() ? Json(200, MetadataToJson(response)) : Error(status);
}

}  // namespace

int HttpStatusFromCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kAlreadyExists:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kCancelled:
      return 499;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

HttpResponse RouteOipHttp(const HttpEnv& env, const HttpRequest& request) {
  if (request.path == "/v2/health/live" || request.path == "/v2/health/ready") {
    if (request.method != "GET") return JsonError(405, request.path + ": expected GET, got " + request.method);
    const bool live = request.path == "/v2/health/live";
    return Json(200, json{{live ? "live" : "ready", true}});
  }
  if (request.path == "/v2" || request.path == "/v2/") {
    if (absl::Status status = Authorize(env, request, "ServerMetadata"); !status.ok()) return Error(status);
    inference::ServerMetadataResponse response;
    ServerMetadataImpl(&response);
    return Json(200, json{{"name", response.name()}, {"version", response.version()}, {"extensions", json::array()}});
  }
  std::optional<ModelPath> path = ParseModelPath(request.path);
  if (!path.has_value()) {
    return JsonError(404, "no such path: " + request.path +
                              " (expected /v2/health/{live,ready}, /v2/models/{name}[/versions/{v}][/ready|/infer])");
  }
  return ModelRoute(env, request, *path);
}

}  // namespace bnserve
