// Model repository and lifecycle over gRPC: ListModels, DescribeModel,
// Load/Reload/Unload at run time, a broken model next to working ones,
// name validation, health per model and the reflection service.
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/server_test_util.h"
#include "tests/test_util/test_util.h"

namespace bnserve::testing {
namespace {

using ::testing::HasSubstr;

class LifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_.AddModel("mlp", "torch/mlp_bn1d.onnx");
    repo_.AddModelBytes("gemm", GemmOnlyModelBytes());
    repo_.AddModelBytes("broken", "this is not an ONNX protobuf");
    server_ = std::make_unique<TestServer>(repo_.path());
  }

  v1::ModelStatus Status(const std::string& name) {
    v1::ListModelsResponse response;
    EXPECT_TRUE(server_->stub().ListModels(NewContext().get(), {}, &response).ok());
    for (const v1::ModelStatus& status : response.models()) {
      if (status.name() == name) return status;
    }
    ADD_FAILURE() << "model " << name << " not listed";
    return {};
  }

  TempRepository repo_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(LifecycleTest, ListsEveryFolderWithItsStateAndTheMessageLimit) {
  v1::ListModelsResponse response;
  ASSERT_TRUE(server_->stub().ListModels(NewContext().get(), {}, &response).ok());
  ASSERT_EQ(response.models_size(), 3);
  EXPECT_EQ(response.models(0).name(), "broken");  // sorted by name
  EXPECT_EQ(response.models(0).state(), v1::MODEL_STATE_ERROR);
  EXPECT_THAT(response.models(0).error(), HasSubstr("broken"));
  EXPECT_EQ(response.models(0).statistics_version(), 0);
  EXPECT_EQ(response.models(1).name(), "gemm");
  EXPECT_EQ(response.models(1).state(), v1::MODEL_STATE_AVAILABLE);
  EXPECT_EQ(response.models(2).name(), "mlp");
  EXPECT_EQ(response.models(2).state(), v1::MODEL_STATE_AVAILABLE);
  EXPECT_EQ(response.models(2).statistics_version(), 1);
  EXPECT_EQ(response.max_message_bytes(), 64 << 20);
}

TEST_F(LifecycleTest, DescribesInputsOutputsAndBnLayers) {
  v1::DescribeModelRequest request;
  request.set_model("mlp");
  v1::DescribeModelResponse response;
  ASSERT_TRUE(server_->stub().DescribeModel(NewContext().get(), request, &response).ok());
  EXPECT_EQ(response.status().state(), v1::MODEL_STATE_AVAILABLE);
  ASSERT_EQ(response.inputs_size(), 1);
  EXPECT_EQ(response.inputs(0).name(), "input");
  EXPECT_THAT(response.inputs(0).shape(), ::testing::ElementsAre(-1, 20));
  EXPECT_THAT(response.inputs(0).dim_names(), ::testing::ElementsAre("batch", ""));
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_THAT(response.outputs(0).shape(), ::testing::ElementsAre(-1, 5));

  const nlohmann::json fixture = LoadJsonFixture("torch/mlp_bn1d.json");
  ASSERT_EQ(response.bn_layers_size(), 2);
  for (int l = 0; l < 2; ++l) {
    const nlohmann::json& expected = fixture["bn_layers"][l];
    SCOPED_TRACE(expected["node"].get<std::string>());
    EXPECT_EQ(response.bn_layers(l).channels(), expected["num_features"].get<int64_t>());
    EXPECT_EQ(response.bn_layers(l).epsilon(), expected["onnx_epsilon"].get<double>());
    // PyTorch convention: 1 - the stored ONNX momentum (float32 0.9 -> ~0.1).
    EXPECT_NEAR(response.bn_layers(l).momentum(), expected["momentum"].get<double>(), 1e-7);
    EXPECT_FALSE(response.bn_layers(l).cumulative());
    EXPECT_TRUE(response.bn_layers(l).has_affine());
  }
  EXPECT_EQ(response.opset(), 13);
  EXPECT_EQ(response.current_version().version(), 1);
  EXPECT_EQ(response.current_version().origin(), "onnx");
}

TEST_F(LifecycleTest, DescribeOfABrokenModelReportsItsError) {
  v1::DescribeModelRequest request;
  request.set_model("broken");
  v1::DescribeModelResponse response;
  ASSERT_TRUE(server_->stub().DescribeModel(NewContext().get(), request, &response).ok());
  EXPECT_EQ(response.status().state(), v1::MODEL_STATE_ERROR);
  EXPECT_FALSE(response.status().error().empty());
  EXPECT_EQ(response.inputs_size(), 0);
}

TEST_F(LifecycleTest, BrokenModelRefusesRequestsWhileOthersServe) {
  v1::PredictResponse response;
  grpc::Status status = Predict(server_->stub(), "broken", MakeTensor({1, 4}, {1, 2, 3, 4}), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("failed to load"));
  EXPECT_TRUE(Predict(server_->stub(), "gemm", MakeTensor({1, 4}, {1, 2, 3, 4}), &response).ok());
}

TEST_F(LifecycleTest, UnknownModelIsNotFoundAndBadNamesAreInvalid) {
  v1::DescribeModelRequest request;
  v1::DescribeModelResponse response;
  request.set_model("nope");
  grpc::Status status = server_->stub().DescribeModel(NewContext().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("nope"));
  for (const std::string& bad : std::vector<std::string>{"", "..", ".", "../mlp", "a/b", "a\nb", "sp ace"}) {
    SCOPED_TRACE(bad);
    request.set_model(bad);
    status = server_->stub().DescribeModel(NewContext().get(), request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("model:"));
    v1::LoadModelRequest load;
    load.set_model(bad);
    v1::LoadModelResponse loaded;
    EXPECT_EQ(server_->stub().LoadModel(NewContext().get(), load, &loaded).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
}

TEST_F(LifecycleTest, UnloadLoadAndReloadAtRunTime) {
  v1::UnloadModelRequest unload;
  unload.set_model("mlp");
  v1::UnloadModelResponse unloaded;
  ASSERT_TRUE(server_->stub().UnloadModel(NewContext().get(), unload, &unloaded).ok());
  EXPECT_EQ(unloaded.status().state(), v1::MODEL_STATE_UNLOADED);
  EXPECT_EQ(Status("mlp").state(), v1::MODEL_STATE_UNLOADED);

  v1::PredictResponse response;
  const v1::Tensor x = MakeTensor({2, 20}, GridValues(40, 1));
  grpc::Status status = Predict(server_->stub(), "mlp", x, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("not loaded"));
  // Another model is untouched.
  EXPECT_TRUE(Predict(server_->stub(), "gemm", MakeTensor({1, 4}, {1, 2, 3, 4}), &response).ok());
  // Unloading twice is a precondition failure.
  EXPECT_EQ(server_->stub().UnloadModel(NewContext().get(), unload, &unloaded).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);

  v1::LoadModelRequest load;
  load.set_model("mlp");
  v1::LoadModelResponse loaded;
  ASSERT_TRUE(server_->stub().LoadModel(NewContext().get(), load, &loaded).ok());
  EXPECT_EQ(loaded.status().state(), v1::MODEL_STATE_AVAILABLE);
  EXPECT_TRUE(Predict(server_->stub(), "mlp", x, &response).ok());
  EXPECT_EQ(server_->stub().LoadModel(NewContext().get(), load, &loaded).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);

  v1::ReloadModelRequest reload;
  reload.set_model("mlp");
  v1::ReloadModelResponse reloaded;
  ASSERT_TRUE(server_->stub().ReloadModel(NewContext().get(), reload, &reloaded).ok());
  EXPECT_EQ(reloaded.status().state(), v1::MODEL_STATE_AVAILABLE);
  EXPECT_TRUE(Predict(server_->stub(), "mlp", x, &response).ok());
}

TEST_F(LifecycleTest, FailedReloadKeepsTheOldModelServing) {
  repo_.AddModelBytes("mlp", "garbage");
  v1::ReloadModelRequest reload;
  reload.set_model("mlp");
  v1::ReloadModelResponse reloaded;
  grpc::Status status = server_->stub().ReloadModel(NewContext().get(), reload, &reloaded);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(Status("mlp").state(), v1::MODEL_STATE_AVAILABLE);
  v1::PredictResponse response;
  EXPECT_TRUE(Predict(server_->stub(), "mlp", MakeTensor({1, 20}, GridValues(20, 2)), &response).ok());
}

TEST_F(LifecycleTest, LoadsAFolderAddedAfterStartAndRetriesAFixedModel) {
  repo_.AddModel("later", "torch/mlp_bn1d.onnx");
  v1::PredictResponse response;
  const v1::Tensor x = MakeTensor({1, 20}, GridValues(20, 3));
  EXPECT_EQ(Predict(server_->stub(), "later", x, &response).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  v1::LoadModelRequest load;
  load.set_model("later");
  v1::LoadModelResponse loaded;
  ASSERT_TRUE(server_->stub().LoadModel(NewContext().get(), load, &loaded).ok());
  EXPECT_TRUE(Predict(server_->stub(), "later", x, &response).ok());

  repo_.AddModel("broken", "torch/mlp_bn1d.onnx");  // fixed on disk
  load.set_model("broken");
  ASSERT_TRUE(server_->stub().LoadModel(NewContext().get(), load, &loaded).ok());
  EXPECT_EQ(Status("broken").state(), v1::MODEL_STATE_AVAILABLE);
  EXPECT_EQ(Status("broken").error(), "");

  load.set_model("missing");
  EXPECT_EQ(server_->stub().LoadModel(NewContext().get(), load, &loaded).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(LifecycleTest, HealthIsReportedPerModel) {
  constexpr int kServing = 1, kNotServing = 2, kUnknownService = -1;
  auto health = [&](const std::string& service) { return CheckHealth(server_->channel(), service); };
  EXPECT_EQ(health(""), kServing);
  EXPECT_EQ(health("mlp"), kServing);
  EXPECT_EQ(health("gemm"), kServing);
  EXPECT_EQ(health("broken"), kNotServing);
  EXPECT_EQ(health("never-heard-of"), kUnknownService);

  v1::UnloadModelRequest unload;
  unload.set_model("mlp");
  v1::UnloadModelResponse unloaded;
  ASSERT_TRUE(server_->stub().UnloadModel(NewContext().get(), unload, &unloaded).ok());
  EXPECT_EQ(health("mlp"), kNotServing);
  v1::LoadModelRequest load;
  load.set_model("mlp");
  v1::LoadModelResponse loaded;
  ASSERT_TRUE(server_->stub().LoadModel(NewContext().get(), load, &loaded).ok());
  EXPECT_EQ(health("mlp"), kServing);
}

TEST_F(LifecycleTest, ReflectionListsTheServices) {
  const std::string response = ListServicesViaReflection(server_->channel());
  // Service names travel as plain strings inside the response.
  EXPECT_THAT(response, HasSubstr("bnserve.v1.BnServe"));
  EXPECT_THAT(response, HasSubstr("grpc.health.v1.Health"));
}

}  // namespace
}  // namespace bnserve::testing
