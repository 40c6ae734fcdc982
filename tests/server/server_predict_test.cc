// Predict and PredictStream over gRPC: PyTorch parity, both tensor
// encodings, single instance vs batch, pinned versions, and every request
// error (field, expected and received named in the message).
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/grpc_args.h"
#include "server/predict_call.h"
#include "server/requests.h"
#include "tests/server/server_test_util.h"
#include "tests/test_util/test_util.h"

namespace bnserve::testing {
namespace {

using ::testing::HasSubstr;

// Every test runs twice: with every Predict computed on the worker pool
// (inline budget 0) and with every call after a model's first computed
// inline on gRPC's thread (a budget no fixture model exceeds).
class PredictTest : public ::testing::TestWithParam<int64_t> {
 protected:
  void SetUp() override {
    repo_.AddModel("mlp", "torch/mlp_bn1d.onnx");
    repo_.AddModel("cnn", "torch/cnn_bn2d.onnx");
    TestServerOptions options;
    options.inline_predict_budget_ns = GetParam();
    server_ = std::make_unique<TestServer>(repo_.path(), options);
  }

  // max |a - b| / (1 + |b|) over the elements, failing on a size mismatch.
  static double MaxRelError(const std::vector<float>& got, const std::vector<float>& want) {
    EXPECT_EQ(got.size(), want.size());
    double worst = 0.0;
    for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
      worst = std::max(worst, std::abs(double{got[i]} - want[i]) / (1.0 + std::abs(double{want[i]})));
    }
    return worst;
  }

  TempRepository repo_;
  std::unique_ptr<TestServer> server_;
};

TEST_P(PredictTest, MatchesPyTorchEvalOutputInBothEncodings) {
  for (const char* name : {"mlp_bn1d", "cnn_bn2d"}) {
    const nlohmann::json fixture = LoadJsonFixture(std::string("torch/") + name + ".json");
    const std::string model = std::string(name) == "mlp_bn1d" ? "mlp" : "cnn";
    for (bool raw : {false, true}) {
      SCOPED_TRACE(model + (raw ? " raw" : " values"));
      const nlohmann::json& input = fixture["eval"]["input"];
      v1::PredictResponse response;
      ASSERT_TRUE(
          Predict(server_->stub(), model, MakeTensor(JsonShape(input), JsonFloats(input), raw), &response).ok());
      EXPECT_EQ(response.model(), model);
      EXPECT_EQ(response.statistics_version(), 1);
      ASSERT_EQ(response.outputs_size(), 1);
      const v1::Tensor& output = response.outputs(0);
      EXPECT_EQ(output.name(), "output");
      // Responses use the request's encoding unless asked otherwise.
      EXPECT_EQ(output.raw_float32_le().empty(), !raw);
      EXPECT_THAT(output.shape(), ::testing::ElementsAreArray(JsonShape(fixture["eval"]["output"])));
      EXPECT_LT(MaxRelError(TensorValues(output), JsonFloats(fixture["eval"]["output"])), 1e-5);
    }
  }
}

TEST_P(PredictTest, SingleInstanceDropsAndRestoresTheBatchDim) {
  const nlohmann::json fixture = LoadJsonFixture("torch/mlp_bn1d.json");
  const nlohmann::json& input = fixture["eval"]["input_n1"];  // [1,20]
  v1::PredictResponse batched, single;
  ASSERT_TRUE(Predict(server_->stub(), "mlp", MakeTensor({1, 20}, JsonFloats(input)), &batched).ok());
  ASSERT_TRUE(Predict(server_->stub(), "mlp", MakeTensor({20}, JsonFloats(input)), &single).ok());
  EXPECT_THAT(batched.outputs(0).shape(), ::testing::ElementsAre(1, 5));
  EXPECT_THAT(single.outputs(0).shape(), ::testing::ElementsAre(5));
  EXPECT_EQ(TensorValues(single.outputs(0)), TensorValues(batched.outputs(0)));
  EXPECT_LT(MaxRelError(TensorValues(single.outputs(0)), JsonFloats(fixture["eval"]["output_n1"])), 1e-5);
}

TEST_P(PredictTest, OutputEncodingCanBeChosen) {
  v1::PredictRequest request;
  request.set_model("mlp");
  *request.add_inputs() = MakeTensor({3, 20}, GridValues(60, 4));
  request.set_output_encoding(v1::TENSOR_ENCODING_RAW_FLOAT32_LE);
  v1::PredictResponse raw, values;
  ASSERT_TRUE(server_->stub().Predict(NewContext().get(), request, &raw).ok());
  EXPECT_EQ(raw.outputs(0).values_size(), 0);
  EXPECT_EQ(raw.outputs(0).raw_float32_le().size(), 3u * 5 * 4);
  request.set_output_encoding(v1::TENSOR_ENCODING_VALUES);
  ASSERT_TRUE(server_->stub().Predict(NewContext().get(), request, &values).ok());
  EXPECT_EQ(TensorValues(raw.outputs(0)), TensorValues(values.outputs(0)));
}

TEST_P(PredictTest, ShapeErrorsNameTheFieldAndBothAcceptedShapes) {
  v1::PredictResponse response;
  grpc::Status status = Predict(server_->stub(), "cnn", MakeTensor({3, 8}, GridValues(24, 5)), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "inputs[0].shape: expected [batch,3,16,16] or [3,16,16], got [3,8]");

  status = Predict(server_->stub(), "mlp", MakeTensor({2, 19}, GridValues(38, 5)), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "inputs[0].shape: expected [batch,20] or [20], got [2,19]");

  v1::PredictRequest request;
  request.set_model("mlp");
  status = server_->stub().Predict(NewContext().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("inputs: expected 1 tensor(s) (input), got 0"));

  v1::Tensor named = MakeTensor({1, 20}, GridValues(20, 5));
  named.set_name("pixels");
  status = Predict(server_->stub(), "mlp", named, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "inputs[0].name: expected 'input', got 'pixels'");
  named.set_name("input");
  EXPECT_TRUE(Predict(server_->stub(), "mlp", named, &response).ok());

  status = Predict(server_->stub(), "mlp", MakeTensor({1, -20}, {}), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("inputs[0].shape"));
}

TEST_P(PredictTest, EncodingErrorsNameTheFieldExpectedAndReceived) {
  v1::PredictResponse response;
  v1::Tensor raw = MakeTensor({2, 20}, GridValues(40, 6), /*raw=*/true);
  raw.mutable_raw_float32_le()->pop_back();
  grpc::Status status = Predict(server_->stub(), "mlp", raw, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "inputs[0].raw_float32_le: expected 4 * 40 = 160 bytes for shape [2,20], got 159");

  v1::Tensor short_values = MakeTensor({2, 20}, GridValues(39, 6));
  status = Predict(server_->stub(), "mlp", short_values, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "inputs[0].values: expected 40 values for shape [2,20], got 39");

  v1::Tensor both = MakeTensor({2, 20}, GridValues(40, 6));
  both.set_raw_float32_le(std::string(160, '\0'));
  status = Predict(server_->stub(), "mlp", both, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("expected either values or raw_float32_le, got both"));
}

TEST_P(PredictTest, VersionErrors) {
  v1::PredictResponse response;
  const v1::Tensor x = MakeTensor({1, 20}, GridValues(20, 7));
  grpc::Status status = Predict(server_->stub(), "mlp", x, &response, /*version=*/9);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("no statistics version 9 (current version 1)"));
  status = Predict(server_->stub(), "mlp", x, &response, /*version=*/-1);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("statistics_version: expected 0"));
  ASSERT_TRUE(Predict(server_->stub(), "mlp", x, &response, /*version=*/1).ok());
  EXPECT_EQ(response.statistics_version(), 1);
  status = Predict(server_->stub(), "unknown", x, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_P(PredictTest, StreamAnswersEveryRequestInOrder) {
  std::unique_ptr<grpc::ClientContext> context = NewContext();
  auto stream = server_->stub().PredictStream(context.get());
  std::vector<std::vector<float>> expected;
  for (int i = 0; i < 5; ++i) {
    v1::PredictRequest request;
    request.set_model("mlp");
    *request.add_inputs() = MakeTensor({i + 1, 20}, GridValues((i + 1) * 20, 100 + i), i % 2 == 1);
    v1::PredictResponse unary;
    ASSERT_TRUE(server_->stub().Predict(NewContext().get(), request, &unary).ok());
    expected.push_back(TensorValues(unary.outputs(0)));
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  v1::PredictResponse response;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(stream->Read(&response)) << "response " << i;
    EXPECT_EQ(response.outputs(0).shape(0), i + 1);
    EXPECT_EQ(TensorValues(response.outputs(0)), expected[i]) << "response " << i;
  }
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_P(PredictTest, StreamEndsWithTheFirstError) {
  std::unique_ptr<grpc::ClientContext> context = NewContext();
  auto stream = server_->stub().PredictStream(context.get());
  v1::PredictRequest good;
  good.set_model("mlp");
  *good.add_inputs() = MakeTensor({1, 20}, GridValues(20, 8));
  v1::PredictRequest bad = good;
  bad.mutable_inputs(0)->set_shape(1, 7);
  ASSERT_TRUE(stream->Write(good));
  v1::PredictResponse response;
  ASSERT_TRUE(stream->Read(&response));
  stream->Write(bad);
  EXPECT_FALSE(stream->Read(&response));
  const grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("inputs[0].values: expected 7 values"));
}

INSTANTIATE_TEST_SUITE_P(Dispatch, PredictTest, ::testing::Values(int64_t{0}, int64_t{1'000'000'000}),
                         [](const ::testing::TestParamInfo<int64_t>& info) {
                           return info.param == 0 ? std::string("WorkerPool") : std::string("Inline");
                         });

// Which calls compute on gRPC's thread: only served-version calls for a
// loaded model whose recent runs fit the budget; the answer is the worker
// path's, byte for byte.
TEST(InlinePredictTest, OnlyServedVersionsOfLoadedModelsWithinTheBudget) {
  TempRepository repo;
  repo.AddModel("mlp", "torch/mlp_bn1d.onnx");
  TestServerOptions options;
  options.inline_predict_budget_ns = 1'000'000'000;
  TestServer server(repo.path(), options);
  v1::PredictRequest request;
  request.set_model("mlp");
  *request.add_inputs() = MakeTensor({1, 20}, GridValues(20, 3));
  v1::PredictResponse inline_response;
  // No run yet: the cost is unknown, so the pool computes the first call.
  EXPECT_FALSE(TryPredictInline(server.manager(), request, &inline_response).has_value());
  EXPECT_EQ(inline_response.ByteSizeLong(), 0u);
  v1::PredictResponse response;
  ASSERT_TRUE(PredictImpl(server.manager(), nullptr, request, &response).ok());
  std::optional<absl::Status> done = TryPredictInline(server.manager(), request, &inline_response);
  ASSERT_TRUE(done.has_value());
  ASSERT_TRUE(done->ok()) << *done;
  EXPECT_EQ(inline_response.SerializeAsString(), response.SerializeAsString());

  // A pinned version may need its statistics read from disk.
  request.set_statistics_version(1);
  EXPECT_FALSE(TryPredictInline(server.manager(), request, &inline_response).has_value());
  request.set_statistics_version(0);
  // Inputs that do not decode go to the pool, which reports them.
  v1::PredictRequest bad = request;
  bad.mutable_inputs(0)->add_shape(7);
  EXPECT_FALSE(TryPredictInline(server.manager(), bad, &inline_response).has_value());
  // Unknown and unloaded models go to the pool, which reports why.
  request.set_model("unknown");
  EXPECT_FALSE(TryPredictInline(server.manager(), request, &inline_response).has_value());
  request.set_model("mlp");
  ASSERT_TRUE(server.manager().Unload("mlp").ok());
  EXPECT_FALSE(TryPredictInline(server.manager(), request, &inline_response).has_value());
}

// Over the budget, or with none, every call goes to the pool.
TEST(InlinePredictTest, CallsOverTheBudgetGoToThePool) {
  TempRepository repo;
  repo.AddModel("mlp", "torch/mlp_bn1d.onnx");
  for (int64_t budget_ns : {int64_t{0}, int64_t{1}}) {
    SCOPED_TRACE(budget_ns);
    TestServerOptions options;
    options.inline_predict_budget_ns = budget_ns;
    TestServer server(repo.path(), options);
    v1::PredictRequest request;
    request.set_model("mlp");
    *request.add_inputs() = MakeTensor({1, 20}, GridValues(20, 3));
    v1::PredictResponse response;
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(PredictImpl(server.manager(), nullptr, request, &response).ok());
    EXPECT_FALSE(TryPredictInline(server.manager(), request, &response).has_value());
  }
}

TEST(PredictLimitTest, TooLargeMessagesAreResourceExhausted) {
  TempRepository repo;
  repo.AddModel("mlp", "torch/mlp_bn1d.onnx");
  TestServerOptions options;
  options.max_message_bytes = 4096;
  TestServer server(repo.path(), options);
  v1::PredictResponse response;
  // 100 x 20 floats = 8000 bytes of request: refused by gRPC on receipt.
  grpc::Status status = Predict(server.stub(), "mlp", MakeTensor({100, 20}, GridValues(2000, 9), true), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("4096"));
  // 40 rows fit (3200 bytes) and so do their 40 x 5 outputs.
  EXPECT_TRUE(Predict(server.stub(), "mlp", MakeTensor({40, 20}, GridValues(800, 9), true), &response).ok());
}

// A request and a reply many times the per-call HTTP/2 window cross it
// through window updates, with the same answer as under gRPC's own growing
// window (bandwidth-delay probing on, gRPC's default lookahead).
TEST(GrpcArgsTest, MessagesLargerThanTheWindowCrossIt) {
  TempRepository repo;
  repo.AddModel("mlp", "torch/mlp_bn1d.onnx");
  const v1::Tensor input = MakeTensor({20000, 20}, GridValues(400000, 5), true);  // 1.6 MB raw
  const GrpcArgs settings[2] = {{{"grpc.http2.lookahead_bytes", "16384"}},
                                {{"grpc.http2.bdp_probe", "1"}, {"grpc.http2.lookahead_bytes", "65536"}}};
  std::vector<float> outputs[2];
  for (int i = 0; i < 2; ++i) {
    SCOPED_TRACE(i);
    TestServerOptions options;
    options.grpc_args = settings[i];
    TestServer server(repo.path(), options);
    v1::PredictResponse response;
    ASSERT_TRUE(Predict(server.stub(), "mlp", input, &response).ok());
    ASSERT_EQ(response.outputs_size(), 1);
    outputs[i] = TensorValues(response.outputs(0));
  }
  EXPECT_EQ(outputs[0].size(), 20000u * 5);
  EXPECT_EQ(outputs[0], outputs[1]);
}

TEST(GrpcArgsTest, OverridesReplaceTheDefaultsAndBadTextIsRefusedNamingTheFlag) {
  const GrpcArgs defaults = ServerGrpcArgs({});
  EXPECT_EQ(defaults.at("grpc.http2.lookahead_bytes"), "262144");
  EXPECT_EQ(defaults.at("grpc.http2.bdp_probe"), "0");
  const GrpcArgs args = ServerGrpcArgs({{"grpc.http2.lookahead_bytes", "1048576"}, {"grpc.primary_user_agent", "x"}});
  EXPECT_EQ(args.at("grpc.http2.lookahead_bytes"), "1048576");
  EXPECT_EQ(args.at("grpc.primary_user_agent"), "x");
  EXPECT_EQ(args.size(), 3u);

  absl::StatusOr<std::pair<std::string, std::string>> parsed = ParseGrpcArg("grpc.a=b=c", "--grpc-arg");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->first, "grpc.a");
  EXPECT_EQ(parsed->second, "b=c");
  for (const char* bad : {"no-equals-sign", "=1"}) {
    parsed = ParseGrpcArg(bad, "--grpc-arg");
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(parsed.status().message(), HasSubstr("--grpc-arg: expected KEY=VALUE"));
    EXPECT_THAT(parsed.status().message(), HasSubstr(std::string("got '") + bad + "'"));
  }
}

}  // namespace
}  // namespace bnserve::testing
