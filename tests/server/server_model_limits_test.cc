// Per-model recalibration limits from <repository>/<model>/config.json
// (core/model/model_limits.h), end to end through a real server.
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/server_test_util.h"

namespace bnserve::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

void WriteConfig(const TempRepository& repo, const std::string& model, const std::string& json) {
  std::ofstream(repo.ModelDir(model) + "/config.json") << json;
}

v1::RecalibrationConfig Config(const std::string& model) {
  v1::RecalibrationConfig config;
  config.set_model(model);
  config.set_dry_run(true);
  return config;
}

// mlp_bn1d takes [N, 20].
v1::Tensor Batch(int64_t n) { return MakeTensor({n, 20}, GridValues(n * 20, 5)); }

TEST(ModelLimitsServerTest, StreamLimitFromConfigOverridesTheFlag) {
  TempRepository repo;
  repo.AddModel("limited", "torch/mlp_bn1d.onnx");
  repo.AddModel("free", "torch/mlp_bn1d.onnx");
  WriteConfig(repo, "limited", R"({"max_recalibration_streams": 1})");
  TestServerOptions options;
  options.max_recalibration_streams = 2;
  TestServer server(repo.path(), options);

  for (const std::string model : {"limited", "free"}) {
    std::unique_ptr<grpc::ClientContext> context = NewContext();
    v1::RecalibrateResponse response;
    auto first = server.stub().Recalibrate(context.get(), &response);
    v1::RecalibrateRequest message;
    *message.mutable_config() = Config(model);
    ASSERT_TRUE(first->Write(message));
    // Wait (without sleeping) until the server has opened the first stream.
    for (int polls = 0;; ++polls) {
      ASSERT_LT(polls, 100000) << "the first stream never opened";
      v1::DescribeModelRequest describe;
      describe.set_model(model);
      v1::DescribeModelResponse described;
      ASSERT_TRUE(server.stub().DescribeModel(NewContext().get(), describe, &described).ok());
      if (described.status().active_recalibrations() == 1) break;
    }
    const RecalibrateResult second = Recalibrate(server.stub(), Config(model), {Batch(4)});
    if (model == "limited") {
      EXPECT_EQ(second.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
      EXPECT_THAT(second.status.error_message(),
                  AllOf(HasSubstr("model 'limited'"), HasSubstr("limit 1 = max_recalibration_streams"),
                        HasSubstr(repo.ModelDir("limited") + "/config.json")));
    } else {
      EXPECT_TRUE(second.status.ok()) << second.status.error_message();  // the flag's 2
    }
    message.Clear();
    *message.mutable_batch()->add_inputs() = Batch(4);
    ASSERT_TRUE(first->Write(message));
    first->WritesDone();
    EXPECT_TRUE(first->Finish().ok());
  }
}

TEST(ModelLimitsServerTest, BatchSamplesAndMessageBytesAreResourceExhaustedNamingTheLimit) {
  TempRepository repo;
  repo.AddModel("samples", "torch/mlp_bn1d.onnx");
  repo.AddModel("bytes", "torch/mlp_bn1d.onnx");
  WriteConfig(repo, "samples", R"({"max_recalibration_batch_samples": 4})");
  // A [4, 20] float batch is 320 bytes of packed floats plus framing.
  WriteConfig(repo, "bytes", R"({"max_recalibration_message_bytes": 200})");
  TestServer server(repo.path());

  EXPECT_TRUE(Recalibrate(server.stub(), Config("samples"), {Batch(4), Batch(3)}).status.ok());
  const RecalibrateResult too_many = Recalibrate(server.stub(), Config("samples"), {Batch(4), Batch(5)});
  EXPECT_EQ(too_many.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(too_many.status.error_message(),
              AllOf(HasSubstr("message 2 (batch)"), HasSubstr("model 'samples'"),
                    HasSubstr("batch of 5 samples exceeds the limit 4 = max_recalibration_batch_samples"),
                    HasSubstr("config.json")));

  EXPECT_TRUE(Recalibrate(server.stub(), Config("bytes"), {Batch(2)}).status.ok());
  const RecalibrateResult too_big = Recalibrate(server.stub(), Config("bytes"), {Batch(4)});
  EXPECT_EQ(too_big.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(too_big.status.error_message(),
              AllOf(HasSubstr("model 'bytes'"), HasSubstr("exceeds the limit 200 = max_recalibration_message_bytes")));
  // Predictions are not limited by recalibration limits.
  v1::PredictResponse predicted;
  EXPECT_TRUE(Predict(server.stub(), "bytes", Batch(64), &predicted).ok());
}

TEST(ModelLimitsServerTest, InvalidConfigFailsThatModelsLoadWithTheReason) {
  TempRepository repo;
  repo.AddModel("typo", "torch/mlp_bn1d.onnx");
  repo.AddModel("fine", "torch/mlp_bn1d.onnx");
  WriteConfig(repo, "typo", R"({"max_recalibration_streems": 1})");
  TestServer server(repo.path());
  v1::ListModelsResponse models;
  ASSERT_TRUE(server.stub().ListModels(NewContext().get(), {}, &models).ok());
  ASSERT_EQ(models.models_size(), 2);
  EXPECT_EQ(models.models(0).name(), "fine");
  EXPECT_EQ(models.models(0).state(), v1::MODEL_STATE_AVAILABLE);
  EXPECT_EQ(models.models(1).state(), v1::MODEL_STATE_ERROR);
  EXPECT_THAT(models.models(1).error(), AllOf(HasSubstr(repo.ModelDir("typo") + "/config.json"),
                                              HasSubstr("unknown key \"max_recalibration_streems\"")));

  // Fixed on disk, a reload picks it up.
  WriteConfig(repo, "typo", R"({"max_recalibration_streams": 1})");
  v1::ReloadModelRequest reload;
  reload.set_model("typo");
  v1::ReloadModelResponse reloaded;
  EXPECT_TRUE(server.stub().ReloadModel(NewContext().get(), reload, &reloaded).ok());
  EXPECT_TRUE(Recalibrate(server.stub(), Config("typo"), {Batch(4)}).status.ok());
}

}  // namespace
}  // namespace bnserve::testing
