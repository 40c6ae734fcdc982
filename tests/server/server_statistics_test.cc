// Statistics RPCs: GetRunningStats (versions, layer filter, affine),
// GetBatchStats against PyTorch's hooked BN inputs, GetBatchStatsStream
// (chunks of one batch equal the whole batch), Moments against a float64
// reference, and their errors.
#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/server_test_util.h"
#include "tests/test_util/test_util.h"

namespace bnserve::testing {
namespace {

using ::testing::HasSubstr;

class StatisticsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_.AddModel("mlp", "torch/mlp_bn1d.onnx");
    repo_.AddModel("cnn", "torch/cnn_bn2d.onnx");
    repo_.AddModelBytes("gemm", GemmOnlyModelBytes());
    server_ = std::make_unique<TestServer>(repo_.path());
  }

  static void ExpectClose(const google::protobuf::RepeatedField<double>& got, const std::vector<double>& want,
                          double tolerance, const std::string& what) {
    ASSERT_EQ(static_cast<size_t>(got.size()), want.size()) << what;
    for (size_t c = 0; c < want.size(); ++c) {
      EXPECT_NEAR(got[static_cast<int>(c)], want[c], tolerance * (1.0 + std::abs(want[c]))) << what << " channel " << c;
    }
  }

  TempRepository repo_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(StatisticsTest, RunningStatsAreTheFileStatistics) {
  const nlohmann::json fixture = LoadJsonFixture("torch/mlp_bn1d.json");
  v1::GetRunningStatsRequest request;
  request.set_model("mlp");
  request.set_include_affine(true);
  v1::GetRunningStatsResponse response;
  ASSERT_TRUE(server_->stub().GetRunningStats(NewContext().get(), request, &response).ok());
  EXPECT_EQ(response.model(), "mlp");
  EXPECT_EQ(response.version().version(), 1);
  ASSERT_EQ(response.layers_size(), 2);
  for (int l = 0; l < 2; ++l) {
    const nlohmann::json& layer = fixture["bn_layers"][l];
    const v1::LayerRunningStats& got = response.layers(l);
    EXPECT_EQ(got.name(), layer["node"].get<std::string>());
    EXPECT_EQ(got.channels(), layer["num_features"].get<int64_t>());
    // Float32 values widened: exact.
    ExpectClose(got.mean(), layer["running_mean"].get<std::vector<double>>(), 0.0, "mean");
    ExpectClose(got.var(), layer["running_var"].get<std::vector<double>>(), 0.0, "var");
    ExpectClose(got.gamma(), layer["weight"].get<std::vector<double>>(), 0.0, "gamma");
    ExpectClose(got.beta(), layer["bias"].get<std::vector<double>>(), 0.0, "beta");
  }
}

TEST_F(StatisticsTest, RunningStatsLayerFilterAndErrors) {
  const nlohmann::json fixture = LoadJsonFixture("torch/cnn_bn2d.json");
  const std::string bn3 = fixture["bn_layers"][2]["node"];
  v1::GetRunningStatsRequest request;
  request.set_model("cnn");
  request.add_layers(bn3);
  v1::GetRunningStatsResponse response;
  ASSERT_TRUE(server_->stub().GetRunningStats(NewContext().get(), request, &response).ok());
  ASSERT_EQ(response.layers_size(), 1);
  EXPECT_EQ(response.layers(0).name(), bn3);
  EXPECT_EQ(response.layers(0).gamma_size(), 0);  // include_affine not set
  EXPECT_EQ(response.layers(0).epsilon(), fixture["bn_layers"][2]["onnx_epsilon"].get<double>());

  request.add_layers("no_such_layer");
  grpc::Status status = server_->stub().GetRunningStats(NewContext().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("'no_such_layer' is not a BN layer"));

  request.clear_layers();
  request.set_statistics_version(5);
  status = server_->stub().GetRunningStats(NewContext().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(StatisticsTest, EvalBatchStatsMatchPyTorchHooks) {
  for (const char* name : {"mlp_bn1d", "cnn_bn2d"}) {
    SCOPED_TRACE(name);
    const nlohmann::json fixture = LoadJsonFixture(std::string("torch/") + name + ".json");
    const nlohmann::json& input = fixture["eval"]["input"];
    v1::GetBatchStatsRequest request;
    request.set_model(std::string(name) == "mlp_bn1d" ? "mlp" : "cnn");
    request.set_forward_mode(v1::FORWARD_MODE_EVAL);
    *request.add_inputs() = MakeTensor(JsonShape(input), JsonFloats(input));
    v1::GetBatchStatsResponse response;
    ASSERT_TRUE(server_->stub().GetBatchStats(NewContext().get(), request, &response).ok());
    EXPECT_EQ(response.forward_mode(), v1::FORWARD_MODE_EVAL);
    EXPECT_EQ(response.statistics_version(), 1);
    EXPECT_EQ(response.samples(), 3);
    const nlohmann::json& hooks = fixture["eval_batch_stats"];
    ASSERT_EQ(response.layers_size(), static_cast<int>(hooks.size()));
    for (size_t l = 0; l < hooks.size(); ++l) {
      const v1::LayerBatchStats& got = response.layers(static_cast<int>(l));
      EXPECT_EQ(got.name(), hooks[l]["node"].get<std::string>());
      EXPECT_EQ(got.count(), hooks[l]["n"].get<int64_t>());
      ExpectClose(got.mean(), hooks[l]["mean"].get<std::vector<double>>(), 1e-5, got.name() + " mean");
      ExpectClose(got.var_biased(), hooks[l]["var_biased"].get<std::vector<double>>(), 1e-5, got.name() + " var_b");
      ExpectClose(got.var_unbiased(), hooks[l]["var_unbiased"].get<std::vector<double>>(), 1e-5, got.name() + " var_u");
      ExpectClose(got.m2(), hooks[l]["m2"].get<std::vector<double>>(), 1e-5, got.name() + " m2");
      ExpectClose(got.running_mean(), fixture["bn_layers"][l]["running_mean"].get<std::vector<double>>(), 0.0,
                  got.name() + " running_mean");
      // Drift, recomputed naively from the numbers in the response.
      const double eps = fixture["bn_layers"][l]["onnx_epsilon"].get<double>();
      double abs_shift = 0.0;
      for (int c = 0; c < got.mean_size(); ++c) {
        const double z = (got.mean(c) - got.running_mean(c)) / std::sqrt(got.running_var(c) + eps);
        EXPECT_NEAR(got.mean_shift(c), z, 1e-9 * (1 + std::abs(z)));
        abs_shift += std::abs(z);
        EXPECT_GE(got.kl(c), 0.0);
      }
      EXPECT_NEAR(got.mean_abs_shift(), abs_shift / got.mean_size(), 1e-9 * (1 + abs_shift));
    }
  }
}

TEST_F(StatisticsTest, SortByDriftOrdersLayersByMeanKl) {
  v1::GetBatchStatsRequest request;
  request.set_model("cnn");
  request.set_sort_by_drift(true);
  request.set_forward_mode(v1::FORWARD_MODE_EVAL);
  // A shifted and scaled batch, so the layers drift by different amounts.
  std::vector<float> x = GridValues(5 * 3 * 16 * 16, 11);
  for (float& v : x) v = 3.0f * v + 1.5f;
  *request.add_inputs() = MakeTensor({5, 3, 16, 16}, x);
  v1::GetBatchStatsResponse response;
  ASSERT_TRUE(server_->stub().GetBatchStats(NewContext().get(), request, &response).ok());
  ASSERT_EQ(response.layers_size(), 4);
  for (int l = 1; l < 4; ++l) EXPECT_GE(response.layers(l - 1).mean_kl(), response.layers(l).mean_kl());
}

TEST_F(StatisticsTest, StreamedChunksEqualTheWholeBatch) {
  const std::vector<float> x = GridValues(7 * 20, 12);
  for (auto mode : {v1::FORWARD_MODE_TRAIN, v1::FORWARD_MODE_EVAL}) {
    SCOPED_TRACE(mode);
    v1::GetBatchStatsRequest whole;
    whole.set_model("mlp");
    whole.set_forward_mode(mode);
    *whole.add_inputs() = MakeTensor({7, 20}, x);
    v1::GetBatchStatsResponse expected;
    ASSERT_TRUE(server_->stub().GetBatchStats(NewContext().get(), whole, &expected).ok());

    std::unique_ptr<grpc::ClientContext> context = NewContext();
    v1::GetBatchStatsResponse streamed;
    auto writer = server_->stub().GetBatchStatsStream(context.get(), &streamed);
    // Chunks of 3, 1 and 3 rows; the first carries the parameters, later
    // ones repeat the model name (allowed) or leave it unset.
    const int rows[] = {3, 1, 3};
    int offset = 0;
    for (int k = 0; k < 3; ++k) {
      v1::GetBatchStatsRequest chunk;
      if (k == 0) chunk = whole;
      if (k == 1) chunk.set_model("mlp");
      chunk.clear_inputs();
      *chunk.add_inputs() = MakeTensor(
          {rows[k], 20}, std::vector<float>(x.begin() + offset * 20, x.begin() + (offset + rows[k]) * 20), k == 2);
      offset += rows[k];
      ASSERT_TRUE(writer->Write(chunk));
    }
    writer->WritesDone();
    ASSERT_TRUE(writer->Finish().ok());
    EXPECT_EQ(streamed.samples(), 7);
    EXPECT_EQ(streamed.SerializeAsString(), expected.SerializeAsString());
  }
}

TEST_F(StatisticsTest, StreamRejectsChangedParametersAndShapes) {
  {
    std::unique_ptr<grpc::ClientContext> context = NewContext();
    v1::GetBatchStatsResponse response;
    auto writer = server_->stub().GetBatchStatsStream(context.get(), &response);
    v1::GetBatchStatsRequest chunk;
    chunk.set_model("mlp");
    *chunk.add_inputs() = MakeTensor({2, 20}, GridValues(40, 13));
    writer->Write(chunk);
    chunk.set_model("cnn");
    writer->Write(chunk);
    writer->WritesDone();
    const grpc::Status status = writer->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("model: expected it unset or equal to the first message's (mlp)"));
  }
  {
    std::unique_ptr<grpc::ClientContext> context = NewContext();
    v1::GetBatchStatsResponse response;
    auto writer = server_->stub().GetBatchStatsStream(context.get(), &response);
    v1::GetBatchStatsRequest chunk;
    chunk.set_model("mlp");
    *chunk.add_inputs() = MakeTensor({2, 20}, GridValues(40, 13));
    writer->Write(chunk);
    chunk.clear_model();
    chunk.clear_inputs();
    *chunk.add_inputs() = MakeTensor({2, 21}, GridValues(42, 13));
    writer->Write(chunk);
    writer->WritesDone();
    const grpc::Status status = writer->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(),
                HasSubstr("inputs[0].shape: expected [*,20] as in the first chunk, got [2,21]"));
  }
}

TEST_F(StatisticsTest, BatchStatsErrors) {
  v1::GetBatchStatsRequest request;
  request.set_model("mlp");
  *request.add_inputs() = MakeTensor({1, 20}, GridValues(20, 14));
  v1::GetBatchStatsResponse response;
  // Train mode with one value per channel: PyTorch refuses it too.
  grpc::Status status = server_->stub().GetBatchStats(NewContext().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  // Eval mode is fine with one sample.
  request.set_forward_mode(v1::FORWARD_MODE_EVAL);
  EXPECT_TRUE(server_->stub().GetBatchStats(NewContext().get(), request, &response).ok());

  std::vector<float> x = GridValues(40, 14);
  x[17] = std::nanf("");
  request.clear_inputs();
  *request.add_inputs() = MakeTensor({2, 20}, x);
  status = server_->stub().GetBatchStats(NewContext().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("17"));

  request.clear_inputs();
  *request.add_inputs() = MakeTensor({0, 20}, {});
  status = server_->stub().GetBatchStats(NewContext().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("non-empty batch"));

  request.set_forward_mode(static_cast<v1::ForwardMode>(7));
  status = server_->stub().GetBatchStats(NewContext().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  request.set_model("gemm");  // no BN: nothing to report, but not an error
  request.set_forward_mode(v1::FORWARD_MODE_EVAL);
  request.clear_inputs();
  *request.add_inputs() = MakeTensor({2, 4}, GridValues(8, 14));
  ASSERT_TRUE(server_->stub().GetBatchStats(NewContext().get(), request, &response).ok());
  EXPECT_EQ(response.layers_size(), 0);
}

TEST_F(StatisticsTest, MomentsMatchAFloat64Reference) {
  // [3,5,7] reduced over axes {0,2}: 5 outputs, each over 21 values.
  const std::vector<int64_t> shape = {3, 5, 7};
  const std::vector<float> x = GridValues(3 * 5 * 7, 15);
  v1::MomentsRequest request;
  *request.mutable_x() = MakeTensor(shape, x, /*raw=*/true);
  request.add_axes(0);
  request.add_axes(-1);
  request.set_keep_dims(true);
  v1::MomentsResponse response;
  ASSERT_TRUE(server_->stub().Moments(NewContext().get(), request, &response).ok());
  EXPECT_THAT(response.shape(), ::testing::ElementsAre(1, 5, 1));
  ASSERT_EQ(response.mean_size(), 5);
  for (int j = 0; j < 5; ++j) {
    double sum = 0.0;
    for (int i = 0; i < 3; ++i)
      for (int k = 0; k < 7; ++k) sum += x[(i * 5 + j) * 7 + k];
    const double mean = sum / 21.0;
    double m2 = 0.0;
    for (int i = 0; i < 3; ++i)
      for (int k = 0; k < 7; ++k) m2 += (x[(i * 5 + j) * 7 + k] - mean) * (x[(i * 5 + j) * 7 + k] - mean);
    EXPECT_NEAR(response.mean(j), mean, 1e-12) << "j=" << j;
    EXPECT_NEAR(response.variance(j), m2 / 21.0, 1e-12) << "j=" << j;
  }

  request.clear_axes();
  request.add_axes(3);
  const grpc::Status status = server_->stub().Moments(NewContext().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace bnserve::testing
