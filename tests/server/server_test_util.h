// Shared helpers for the gRPC server tests: a temporary model repository, a
// real server on a loopback port with a client stub, and tensor builders.
#pragma once

#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bnserve/v1/bnserve_service.grpc.pb.h"
#include "core/serving/model_manager.h"
#include "grpcpp/grpcpp.h"
#include "nlohmann/json.hpp"
#include "server/bnserve_server.h"
#include "spdlog/spdlog.h"

namespace bnserve::testing {

// Sends everything spdlog's default logger writes (every level) into a
// string for the lifetime of the object, then restores the previous logger.
class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  // Call it once nothing logs any more (e.g. after stopping the server):
  // the stream is not read under the sink's lock.
  std::string text() const;

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::shared_ptr<std::ostringstream> stream_;
};

// A fresh directory under $TMPDIR, removed with everything in it on
// destruction.
class TempRepository {
 public:
  TempRepository();
  ~TempRepository();
  TempRepository(const TempRepository&) = delete;
  TempRepository& operator=(const TempRepository&) = delete;

  const std::string& path() const { return path_; }
  std::string ModelDir(const std::string& name) const { return path_ + "/" + name; }
  // Writes <path>/<name>/model.onnx: a copy of tests/fixtures/<fixture>, or
  // the given bytes.
  void AddModel(const std::string& name, const std::string& fixture);
  void AddModelBytes(const std::string& name, const std::string& bytes);

 private:
  std::string path_;
};

struct TestServerOptions {
  int64_t max_message_bytes = 64 << 20;
  int max_recalibration_streams = 2;
  int worker_threads = 2;
  // Predict calls cheaper than this compute on gRPC's thread (0 = never).
  int64_t inline_predict_budget_ns = kInlinePredictBudgetNs;
  GrpcArgs grpc_args;
  // TLS (then channel() and stub() are plaintext and fail: tests build
  // their own TLS channels to port()) and the authorisation policy.
  TlsFiles tls;
  AuthPolicy auth;
  // The HTTP port (ServerOptions::http_listen), e.g. "127.0.0.1:0"; empty =
  // none.
  std::string http_listen;
};

// A ModelManager over `repository` (every model loaded) served by a BnServer
// on 127.0.0.1:<free port>, and a stub on a channel to it.
class TestServer {
 public:
  explicit TestServer(const std::string& repository, TestServerOptions options = {});
  ~TestServer();

  ModelManager& manager() { return *manager_; }
  BnServer& server() { return *server_; }
  int port() const { return server_ == nullptr ? 0 : server_->port(); }
  int http_port() const { return server_ == nullptr ? 0 : server_->http_port(); }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  v1::BnServe::Stub& stub() { return *stub_; }
  // Shuts the server down (the destructor does it otherwise).
  void Stop();

 private:
  std::unique_ptr<ModelManager> manager_;
  std::unique_ptr<BnServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::BnServe::Stub> stub_;
};

// The method names of bnserve.v1.BnServe, from the generated descriptor.
std::vector<std::string> BnServeMethodNames();

// A client context with a generous deadline (a hung server fails the test
// instead of hanging it).
std::unique_ptr<grpc::ClientContext> NewContext();

v1::Tensor MakeTensor(const std::vector<int64_t>& shape, const std::vector<float>& values, bool raw = false);
// The values of a response tensor, whichever encoding it uses.
std::vector<float> TensorValues(const v1::Tensor& tensor);
// n x features values on a 1/64 grid in [-2, 2), deterministic in `seed`.
std::vector<float> GridValues(int64_t count, uint32_t seed);
// A fixture JSON tensor {"shape", "data"} as floats.
std::vector<float> JsonFloats(const nlohmann::json& tensor);
std::vector<int64_t> JsonShape(const nlohmann::json& tensor);

struct RecalibrateResult {
  grpc::Status status;
  v1::RecalibrateResponse response;
};
// Streams `config` then `batches` (each one input tensor) and half-closes.
RecalibrateResult Recalibrate(v1::BnServe::Stub& stub, const v1::RecalibrationConfig& config,
                              const std::vector<v1::Tensor>& batches);

// Predict with one input; returns status and response.
grpc::Status Predict(v1::BnServe::Stub& stub, const std::string& model, const v1::Tensor& input,
                     v1::PredictResponse* response, int64_t version = 0);

// ListVersions of `model` (a failure is reported as a test failure).
v1::ListVersionsResponse ListVersions(v1::BnServe::Stub& stub, const std::string& model);

// grpc.health.v1.Health/Check with hand-encoded protobuf (Debian's gRPC
// ships no health stubs): the ServingStatus number (1 SERVING, 2
// NOT_SERVING), or -1 when the server answers NOT_FOUND (unknown service).
int CheckHealth(const std::shared_ptr<grpc::Channel>& channel, const std::string& service);
// The raw ServerReflectionResponse bytes answering list_services.
std::string ListServicesViaReflection(const std::shared_ptr<grpc::Channel>& channel);

// A serialized ONNX model without any BatchNormalization: y = x W^T + b
// with x [batch, 4], y [batch, 3].
std::string GemmOnlyModelBytes();

}  // namespace bnserve::testing
