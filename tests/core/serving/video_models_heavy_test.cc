// torchvision's video networks (r3d_18, mc3_18, r2plus1d_18: 3-D convolution
// and BatchNorm3d) end to end without a server, exported at test time by
// tests/python/export_video_models.py (/usr/bin/python3 with torch and
// torchvision) with random weights and randomized BN statistics and affine
// parameters, so a wrong fold or a wrong statistic shows:
// - predictions of the folded and the unfolded plan, and of the
//   ModelManager, within 1e-4 of PyTorch relative to max |y|;
// - the running statistics after one train-mode batch (EMA with the
//   exported momentum) equal PyTorch's, layer by layer;
// - a dry-run recalibration in every mode and forward mode reports every BN
//   layer, updated, with finite changes;
// - an export reloads and predicts what the served model predicts.
// Heavy (ctest label "heavy": the Release stage only): three full-width
// networks, 45-130 MB each.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "core/engine/inference_plan.h"
#include "core/model/model.h"
#include "core/serving/model_manager.h"
#include "core/serving/recalibration_session.h"
#include "core/serving/recalibrator.h"
#include "gtest/gtest.h"
#include "tests/test_util/subprocess_util.h"
#include "tests/test_util/test_util.h"

namespace bnserve {
namespace {

using nlohmann::json;

Tensor JsonTensor(const json& j) {
  std::vector<int64_t> shape;
  std::vector<double> data;
  testing::ReadJsonTensor(j, &shape, &data);
  return Tensor(Shape::FromDims(shape).value(), std::vector<float>(data.begin(), data.end()));
}

// max |actual - expected| <= rel * max |expected|.
void ExpectCloseToScale(const float* actual, int64_t size, const std::vector<double>& expected, double rel,
                        const std::string& what) {
  ASSERT_EQ(static_cast<size_t>(size), expected.size()) << what;
  double scale = 0.0, worst = 0.0;
  for (double e : expected) scale = std::max(scale, std::fabs(e));
  for (int64_t i = 0; i < size; ++i) worst = std::max(worst, std::fabs(actual[i] - expected[i]));
  EXPECT_LE(worst, rel * scale) << what << ": max |diff| " << worst << " against max |y| " << scale;
}

std::vector<double> Doubles(const json& tensor) { return tensor.at("data").get<std::vector<double>>(); }

class VideoModelsTest : public ::testing::TestWithParam<std::string> {
 protected:
  // A repository per test process. The networks come from
  // $BNSERVE_HEAVY_MODELS/video (ctest's export_heavy_models fixture: one
  // export for all the processes) or, run by hand, from an export into the
  // repository the first time a test needs one.
  static void SetUpTestSuite() { repository_ = new std::string(testing::MakeTempDir("bnserve_video")); }
  static void TearDownTestSuite() {
    if (repository_ != nullptr) std::filesystem::remove_all(*repository_);
    delete repository_;
    repository_ = nullptr;
  }

  void SetUp() override {
    ASSERT_FALSE(repository_->empty());
    const char* shared = std::getenv("BNSERVE_HEAVY_MODELS");
    const std::string source = shared != nullptr && *shared != '\0' ? std::string(shared) + "/video" : *repository_;
    const std::string json_path = source + "/" + GetParam() + ".json";
    if (source == *repository_ && !std::filesystem::exists(json_path)) {
      const testing::CommandOutput result = testing::RunCommand(
          {"/usr/bin/python3", testing::FixturePath("../python/export_video_models.py"), *repository_, GetParam()},
          *repository_, std::chrono::seconds(600));
      ASSERT_EQ(result.exit_code, 0) << result.err;
    }
    if (source != *repository_ && !std::filesystem::exists(*repository_ + "/" + GetParam())) {
      // The model's folder is this process's (the manager keeps its
      // statistics store there); the file itself is shared.
      std::filesystem::create_directories(*repository_ + "/" + GetParam());
      std::filesystem::create_symlink(source + "/" + GetParam() + "/model.onnx",
                                      *repository_ + "/" + GetParam() + "/model.onnx");
    }
    std::ifstream in(json_path);
    ASSERT_TRUE(in.good()) << "the exporter wrote no " << GetParam() << ".json";
    expected_ = json::parse(in);
    auto model = Model::LoadFromFile(source + "/" + GetParam() + "/model.onnx");
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *model;
  }

  std::unique_ptr<ModelManager> LoadedManager() {
    ModelManagerOptions options;
    options.repository = *repository_;
    auto manager = ModelManager::Create(options);
    EXPECT_TRUE(manager.ok()) << manager.status();
    if (!manager.ok()) return nullptr;
    auto status = (*manager)->Load(GetParam());
    EXPECT_TRUE(status.ok()) << status.status();
    return std::move(*manager);
  }

  static std::string* repository_;
  json expected_;
  std::shared_ptr<const Model> model_;
};

std::string* VideoModelsTest::repository_ = nullptr;

TEST_P(VideoModelsTest, PredictionsMatchPyTorchFoldedAndUnfolded) {
  const Tensor input = JsonTensor(expected_["eval"]["input"]);
  const std::vector<double> expected = Doubles(expected_["eval"]["output"]);
  for (bool fold : {true, false}) {
    auto plan = InferencePlan::Build(model_, model_->file_stats(), PlanOptions{fold});
    ASSERT_TRUE(plan.ok()) << plan.status();
    const TensorView view = input.view();
    auto out = (*plan)->Run({&view, 1});
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ(out->size(), 1u);
    EXPECT_EQ((*out)[0].shape, (Shape{2, 400}));
    ExpectCloseToScale((*out)[0].data.data(), (*out)[0].size(), expected, 1e-4,
                       GetParam() + (fold ? " folded" : " unfolded"));
  }
}

TEST_P(VideoModelsTest, OneTrainBatchUpdatesEveryLayerAsPyTorch) {
  const json& bn = expected_["train"]["bn"];
  ASSERT_EQ(model_->bn_layers().size(), bn.size());
  RecalibrationOptions options;  // EMA with each layer's exported momentum
  auto recalibrator = Recalibrator::Create(model_, model_->file_stats(), options);
  ASSERT_TRUE(recalibrator.ok()) << recalibrator.status();
  const Tensor batch = JsonTensor(expected_["train"]["input"]);
  const TensorView view = batch.view();
  ASSERT_TRUE((*recalibrator)->AddBatch({&view, 1}).ok());
  auto stats = (*recalibrator)->Finish(nullptr);
  ASSERT_TRUE(stats.ok()) << stats.status();
  for (size_t l = 0; l < bn.size(); ++l) {
    const std::string where = GetParam() + " layer " + bn[l]["node"].get<std::string>();
    const std::vector<double> mean = bn[l]["running_mean"].get<std::vector<double>>();
    const std::vector<double> var = bn[l]["running_var"].get<std::vector<double>>();
    const LayerStats& got = stats->layers[l];
    ASSERT_EQ(got.mean.size(), mean.size()) << where;
    for (size_t c = 0; c < mean.size(); ++c) {
      // Activations are float32 in both; deep layers carry ~1e-5 relative noise.
      EXPECT_NEAR(got.mean[c], mean[c], 1e-4 * (1 + std::fabs(mean[c]))) << where << " channel " << c;
      EXPECT_NEAR(got.var[c], var[c], 1e-4 * var[c]) << where << " channel " << c;
    }
  }
}

TEST_P(VideoModelsTest, DryRunRecalibrationReportsEveryLayerInEveryMode) {
  std::unique_ptr<ModelManager> manager = LoadedManager();
  ASSERT_NE(manager, nullptr);
  const Tensor batch = JsonTensor(expected_["train"]["input"]);
  const TensorView view = batch.view();
  for (RecalibrationMode mode : {RecalibrationMode::kEma, RecalibrationMode::kCumulative,
                                 RecalibrationMode::kPopulation, RecalibrationMode::kExact}) {
    for (ForwardMode forward : {ForwardMode::kTrain, ForwardMode::kEval}) {
      const std::string what =
          GetParam() + " mode " + std::to_string(static_cast<int>(mode)) + " forward " + ForwardModeName(forward);
      RecalibrationRequest request;
      request.dry_run = true;
      request.options.mode = mode;
      request.options.forward = forward;
      request.options.reset = mode != RecalibrationMode::kEma;
      auto session = manager->StartRecalibration(GetParam(), request);
      ASSERT_TRUE(session.ok()) << what << ": " << session.status();
      ASSERT_TRUE((*session)->AddBatch({&view, 1}).ok()) << what;
      auto outcome = (*session)->Finish();
      ASSERT_TRUE(outcome.ok()) << what << ": " << outcome.status();
      EXPECT_TRUE(outcome->dry_run);
      EXPECT_EQ(outcome->summary.samples, 2) << what;
      ASSERT_EQ(outcome->summary.layers.size(), model_->bn_layers().size()) << what;
      for (size_t l = 0; l < outcome->summary.layers.size(); ++l) {
        const LayerChange& change = outcome->summary.layers[l];
        EXPECT_EQ(change.name, model_->bn_layers()[l].name) << what;
        EXPECT_TRUE(change.updated) << what << " " << change.name;
        EXPECT_TRUE(std::isfinite(change.mean_shift_rms) && std::isfinite(change.log_var_ratio_rms))
            << what << " " << change.name;
        EXPECT_GT(change.mean_shift_rms + std::fabs(change.log_var_ratio_rms), 0.0) << what << " " << change.name;
      }
    }
  }
}

TEST_P(VideoModelsTest, ExportReloadsAndPredictsTheSame) {
  std::unique_ptr<ModelManager> manager = LoadedManager();
  ASSERT_NE(manager, nullptr);
  const Tensor input = JsonTensor(expected_["eval"]["input"]);
  TensorView view = input.view();
  auto served = manager->Predict(GetParam(), VersionRequest::Current(), {}, {&view, 1});
  ASSERT_TRUE(served.ok()) << served.status();
  const TensorView served_output = served->output(0);
  ExpectCloseToScale(served_output.data, served_output.shape.NumElements(), Doubles(expected_["eval"]["output"]), 1e-4,
                     GetParam() + " served");

  auto exported = manager->Export(GetParam(), VersionRequest::Current());
  ASSERT_TRUE(exported.ok()) << exported.status();
  const std::string path = *repository_ + "/" + GetParam() + "_exported.onnx";
  {
    std::ofstream out(path, std::ios::binary);
    out.write(exported->bytes.data(), static_cast<std::streamsize>(exported->bytes.size()));
  }
  auto reloaded = Model::LoadFromFile(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  ASSERT_EQ((*reloaded)->bn_layers().size(), model_->bn_layers().size());
  auto plan = InferencePlan::Build(*reloaded, (*reloaded)->file_stats(), PlanOptions{});
  ASSERT_TRUE(plan.ok()) << plan.status();
  const TensorView again = input.view();
  auto out = (*plan)->Run({&again, 1});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ((*out)[0].size(), served_output.shape.NumElements());
  for (int64_t i = 0; i < (*out)[0].size(); ++i) EXPECT_EQ((*out)[0].data[i], served_output.data[i]) << i;
}

INSTANTIATE_TEST_SUITE_P(Torchvision, VideoModelsTest, ::testing::Values("r3d_18", "mc3_18", "r2plus1d_18"));

}  // namespace
}  // namespace bnserve
