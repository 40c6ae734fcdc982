#include "tests/server/server_test_util.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>

#include "google/protobuf/descriptor.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "onnx/onnx_pb.h"
#include "spdlog/sinks/ostream_sink.h"
#include "tests/test_util/test_util.h"

namespace bnserve::testing {

LogCapture::LogCapture() : previous_(spdlog::default_logger()), stream_(std::make_shared<std::ostringstream>()) {
  auto logger = std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(*stream_));
  logger->set_level(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

LogCapture::~LogCapture() { spdlog::set_default_logger(previous_); }

std::string LogCapture::text() const { return stream_->str(); }

TempRepository::TempRepository() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/bnserve_repo_XXXXXX";
  char* made = mkdtemp(pattern.data());
  if (made == nullptr) ADD_FAILURE() << "mkdtemp " << pattern << ": " << std::strerror(errno);
  path_ = pattern;
}

TempRepository::~TempRepository() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

void TempRepository::AddModel(const std::string& name, const std::string& fixture) {
  std::ifstream in(FixturePath(fixture), std::ios::binary);
  ASSERT_TRUE(in.good()) << "missing fixture " << FixturePath(fixture);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  AddModelBytes(name, bytes);
}

void TempRepository::AddModelBytes(const std::string& name, const std::string& bytes) {
  std::filesystem::create_directories(ModelDir(name));
  std::ofstream out(ModelDir(name) + "/model.onnx", std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good());
}

TestServer::TestServer(const std::string& repository, TestServerOptions options) {
  ModelManagerOptions manager_options;
  manager_options.repository = repository;
  manager_options.max_recalibration_streams = options.max_recalibration_streams;
  manager_options.inline_predict_budget_ns = options.inline_predict_budget_ns;
  absl::StatusOr<std::unique_ptr<ModelManager>> manager = ModelManager::Create(manager_options);
  if (!manager.ok()) {
    ADD_FAILURE() << manager.status();
    return;
  }
  manager_ = *std::move(manager);
  manager_->LoadAll();
  ServerOptions server_options;
  server_options.listen = "127.0.0.1:0";
  server_options.worker_threads = options.worker_threads;
  server_options.grpc_args = options.grpc_args;
  server_options.limits.max_message_bytes = options.max_message_bytes;
  server_options.tls = options.tls;
  server_options.auth = options.auth;
  server_options.http_listen = options.http_listen;
  absl::StatusOr<std::unique_ptr<BnServer>> server = BnServer::Start(manager_.get(), server_options);
  if (!server.ok()) {
    ADD_FAILURE() << server.status();
    return;
  }
  server_ = *std::move(server);
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  args.SetMaxSendMessageSize(256 << 20);
  channel_ = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server_->port()),
                                       grpc::InsecureChannelCredentials(), args);
  stub_ = v1::BnServe::NewStub(channel_);
}

TestServer::~TestServer() { Stop(); }

void TestServer::Stop() {
  if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
}

std::vector<std::string> BnServeMethodNames() {
  // Naming the generated file's descriptor table links its object file
  // (whose static initialiser registers it with the generated pool); no
  // message of that file is otherwise referenced.
  const google::protobuf::FileDescriptor* file = google::protobuf::DescriptorPool::generated_pool()->FindFileByName(
      descriptor_table_bnserve_2fv1_2fbnserve_5fservice_2eproto.filename);
  const google::protobuf::ServiceDescriptor* service = file == nullptr ? nullptr : file->FindServiceByName("BnServe");
  std::vector<std::string> names;
  if (service == nullptr) {
    ADD_FAILURE() << "no descriptor for " << v1::BnServe::service_full_name();
    return names;
  }
  for (int i = 0; i < service->method_count(); ++i) names.push_back(service->method(i)->name());
  return names;
}

std::unique_ptr<grpc::ClientContext> NewContext() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  return context;
}

v1::Tensor MakeTensor(const std::vector<int64_t>& shape, const std::vector<float>& values, bool raw) {
  v1::Tensor tensor;
  for (int64_t d : shape) tensor.add_shape(d);
  if (raw) {
    // The test host is little-endian (x86-64/arm64), like the wire format.
    tensor.set_raw_float32_le(std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4));
  } else {
    tensor.mutable_values()->Add(values.begin(), values.end());
  }
  return tensor;
}

std::vector<float> TensorValues(const v1::Tensor& tensor) {
  if (!tensor.raw_float32_le().empty()) {
    std::vector<float> values(tensor.raw_float32_le().size() / 4);
    std::memcpy(values.data(), tensor.raw_float32_le().data(), values.size() * 4);
    return values;
  }
  return std::vector<float>(tensor.values().begin(), tensor.values().end());
}

std::vector<float> GridValues(int64_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> grid(-128, 127);
  std::vector<float> values(static_cast<size_t>(count));
  for (float& v : values) v = static_cast<float>(grid(rng)) / 64.0f;
  return values;
}

std::vector<float> JsonFloats(const nlohmann::json& tensor) {
  std::vector<float> values;
  for (double v : tensor.at("data").get<std::vector<double>>()) values.push_back(static_cast<float>(v));
  return values;
}

std::vector<int64_t> JsonShape(const nlohmann::json& tensor) { return tensor.at("shape").get<std::vector<int64_t>>(); }

RecalibrateResult Recalibrate(v1::BnServe::Stub& stub, const v1::RecalibrationConfig& config,
                              const std::vector<v1::Tensor>& batches) {
  RecalibrateResult result;
  std::unique_ptr<grpc::ClientContext> context = NewContext();
  std::unique_ptr<grpc::ClientWriter<v1::RecalibrateRequest>> writer =
      stub.Recalibrate(context.get(), &result.response);
  v1::RecalibrateRequest message;
  *message.mutable_config() = config;
  bool open = writer->Write(message);
  for (const v1::Tensor& batch : batches) {
    if (!open) break;
    message.Clear();
    *message.mutable_batch()->add_inputs() = batch;
    open = writer->Write(message);
  }
  writer->WritesDone();
  result.status = writer->Finish();
  return result;
}

grpc::Status Predict(v1::BnServe::Stub& stub, const std::string& model, const v1::Tensor& input,
                     v1::PredictResponse* response, int64_t version) {
  v1::PredictRequest request;
  request.set_model(model);
  request.set_statistics_version(version);
  *request.add_inputs() = input;
  return stub.Predict(NewContext().get(), request, response);
}

v1::ListVersionsResponse ListVersions(v1::BnServe::Stub& stub, const std::string& model) {
  v1::ListVersionsRequest request;
  request.set_model(model);
  v1::ListVersionsResponse response;
  const grpc::Status status = stub.ListVersions(NewContext().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

namespace {

grpc::ByteBuffer ToByteBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string FromByteBuffer(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (!buffer.Dump(&slices).ok()) return bytes;
  for (const grpc::Slice& slice : slices) bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  return bytes;
}

// One request, one response over a bidi stream, with raw bytes.
class OneShotBidiCall final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  OneShotBidiCall(grpc::GenericStub* stub, const std::string& method, const std::string& request)
      : request_(ToByteBuffer(request)) {
    context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    stub->PrepareBidiStreamingCall(&context_, method, grpc::StubOptions(), this);
    StartWriteLast(&request_, grpc::WriteOptions());
    StartRead(&response_);
    StartCall();
  }
  void OnDone(const grpc::Status& status) override { done_.set_value(status); }
  grpc::Status Await() { return done_.get_future().get(); }
  std::string response() const { return FromByteBuffer(response_); }

 private:
  grpc::ClientContext context_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  std::promise<grpc::Status> done_;
};

}  // namespace

int CheckHealth(const std::shared_ptr<grpc::Channel>& channel, const std::string& service) {
  grpc::GenericStub stub(channel);
  // HealthCheckRequest { string service = 1; }
  std::string request;
  if (!service.empty()) request = std::string("\x0a", 1) + static_cast<char>(service.size()) + service;
  const grpc::ByteBuffer request_buffer = ToByteBuffer(request);
  grpc::ByteBuffer response_buffer;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request_buffer, &response_buffer,
                 [&done](grpc::Status status) { done.set_value(status); });
  const grpc::Status status = done.get_future().get();
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) return -1;
  EXPECT_TRUE(status.ok()) << status.error_message();
  // HealthCheckResponse { ServingStatus status = 1; }: "\x08" then a
  // one-byte varint; empty means 0 (UNKNOWN).
  const std::string response = FromByteBuffer(response_buffer);
  return response.size() == 2 && response[0] == '\x08' ? response[1] : 0;
}

std::string ListServicesViaReflection(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  // ServerReflectionRequest { string list_services = 7; } set to "".
  OneShotBidiCall call(&stub, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                       std::string("\x3a\x00", 2));
  const grpc::Status status = call.Await();
  EXPECT_TRUE(status.ok()) << status.error_message();
  return call.response();
}

std::string GemmOnlyModelBytes() {
  onnx::ModelProto model;
  model.set_ir_version(7);
  model.add_opset_import()->set_version(13);
  onnx::GraphProto* graph = model.mutable_graph();
  graph->set_name("gemm_only");
  auto add_value = [](onnx::ValueInfoProto* value, const std::string& name, int64_t cols) {
    value->set_name(name);
    onnx::TypeProto_Tensor* type = value->mutable_type()->mutable_tensor_type();
    type->set_elem_type(onnx::TensorProto::FLOAT);
    type->mutable_shape()->add_dim()->set_dim_param("batch");
    type->mutable_shape()->add_dim()->set_dim_value(cols);
  };
  add_value(graph->add_input(), "x", 4);
  add_value(graph->add_output(), "y", 3);
  onnx::TensorProto* w = graph->add_initializer();
  w->set_name("W");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(3);
  w->add_dims(4);
  for (int i = 0; i < 12; ++i) w->add_float_data(0.25f * static_cast<float>(i % 5) - 0.5f);
  onnx::TensorProto* b = graph->add_initializer();
  b->set_name("b");
  b->set_data_type(onnx::TensorProto::FLOAT);
  b->add_dims(3);
  for (int i = 0; i < 3; ++i) b->add_float_data(0.125f * static_cast<float>(i));
  onnx::NodeProto* gemm = graph->add_node();
  gemm->set_op_type("Gemm");
  gemm->set_name("gemm");
  gemm->add_input("x");
  gemm->add_input("W");
  gemm->add_input("b");
  gemm->add_output("y");
  onnx::AttributeProto* trans_b = gemm->add_attribute();
  trans_b->set_name("transB");
  trans_b->set_type(onnx::AttributeProto::INT);
  trans_b->set_i(1);
  return model.SerializeAsString();
}

}  // namespace bnserve::testing
