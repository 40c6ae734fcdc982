// libFuzzer target: arbitrary bytes as a bnserve request. The first byte
// picks the message type (PredictRequest, GetBatchStatsRequest,
// MomentsRequest, GetRunningStatsRequest, or one GetBatchStatsStream chunk);
// the rest is parsed as that protobuf and run through the gRPC-free request
// function of server/requests.h against a ModelManager serving a small MLP
// (tests/fixtures/torch/mlp_bn1d.onnx, model "mlp"; an empty model name is
// replaced by it so that most inputs reach the computation). Whatever the
// bytes, the function must return a status - never crash, and never
// allocate what the request merely claims (shape dims without data).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "core/serving/model_manager.h"
#include "server/requests.h"

#ifndef BNSERVE_FIXTURES_DIR
#error "BNSERVE_FIXTURES_DIR must name tests/fixtures"
#endif

namespace {

constexpr char kModel[] = "mlp";

bnserve::ModelManager* Manager() {
  static bnserve::ModelManager* const manager = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string repository =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/bnserve_fuzz_requests_XXXXXX";
    if (mkdtemp(repository.data()) == nullptr) std::abort();
    std::filesystem::create_directories(repository + "/" + kModel);
    std::filesystem::copy_file(std::string(BNSERVE_FIXTURES_DIR) + "/torch/mlp_bn1d.onnx",
                               repository + "/" + kModel + "/model.onnx");
    bnserve::ModelManagerOptions options;
    options.repository = repository;
    auto created = bnserve::ModelManager::Create(options);
    if (!created.ok()) std::abort();
    if ((*created)->LoadAll() != 1) std::abort();
    return created->release();
  }();
  return manager;
}

template <typename Request>
bool Parse(const uint8_t* data, size_t size, Request* request) {
  if (!request->ParseFromArray(data, static_cast<int>(size))) return false;
  if (request->model().empty()) request->set_model(kModel);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > (1 << 20)) return 0;
  bnserve::ModelManager& manager = *Manager();
  const uint8_t kind = data[0] % 5;
  ++data;
  --size;
  switch (kind) {
    case 0: {
      bnserve::v1::PredictRequest request;
      bnserve::v1::PredictResponse response;
      if (Parse(data, size, &request)) (void)bnserve::PredictImpl(manager, nullptr, request, &response);
      break;
    }
    case 1: {
      bnserve::v1::GetBatchStatsRequest request;
      bnserve::v1::GetBatchStatsResponse response;
      if (Parse(data, size, &request)) (void)bnserve::GetBatchStatsImpl(manager, request, &response);
      break;
    }
    case 2: {
      bnserve::v1::MomentsRequest request;
      bnserve::v1::MomentsResponse response;
      if (request.ParseFromArray(data, static_cast<int>(size))) (void)bnserve::MomentsImpl(request, &response);
      break;
    }
    case 3: {
      bnserve::v1::GetRunningStatsRequest request;
      bnserve::v1::GetRunningStatsResponse response;
      if (Parse(data, size, &request)) (void)bnserve::GetRunningStatsImpl(manager, request, &response);
      break;
    }
    case 4: {
      // The same message as the first and a second chunk of a stream.
      bnserve::v1::GetBatchStatsRequest request;
      bnserve::v1::GetBatchStatsResponse response;
      if (!Parse(data, size, &request)) break;
      bnserve::ServiceLimits limits;
      limits.max_stream_batch_bytes = 64 << 20;
      bnserve::BatchStatsStream stream(limits);
      if (!stream.Add(request).ok()) break;
      bnserve::v1::GetBatchStatsRequest chunk;
      *chunk.mutable_inputs() = request.inputs();
      if (!stream.Add(chunk).ok()) break;
      (void)stream.Finish(manager, &response);
      break;
    }
  }
  return 0;
}
