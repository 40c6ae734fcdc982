// End-to-end parity with PyTorch on torchvision architectures that need Pad,
// ReduceMean, HardSigmoid/HardSwish, the SiLU/hardswish gate fusions and
// shape computations folded at load (core/model/shape_folding.h),
// exported at test time by tests/python/export_torchvision_cases.py (random
// weights, randomized BN statistics and affine parameters) exactly as the
// README prescribes. Per architecture: the folded plan's predictions within
// 1e-4 of PyTorch relative to max |y|, at two batch sizes; an eval-mode statistics pass whose
// output matches too and whose per-channel BN input means match PyTorch's for
// every BN layer; an export with new statistics that loads and predicts
// again. Heavy (label `heavy`): it exports and runs whole networks.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/engine/inference_plan.h"
#include "core/engine/statistics_plan.h"
#include "core/model/model.h"
#include "core/model/onnx_export.h"
#include "gtest/gtest.h"
#include "onnx/onnx_pb.h"
#include "tests/test_util/scoped_temp_dir.h"
#include "tests/test_util/subprocess_util.h"
#include "tests/test_util/test_util.h"

namespace bnserve {
namespace {

using nlohmann::json;

struct Case {
  std::string name;
  int size;
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.name; }

// mnasnet: ReduceMean head; mobilenet_v3: HardSigmoid and hardswish gates;
// densenet: Pad before AveragePool; inception_v3 (>= 75 pixels): Pad with
// count_include_pad pooling; efficientnet: SiLU gates; shufflenet: the
// channel shuffle's Reshapes and x.chunk's Slices computed from Shape.
const std::vector<Case>& Cases() {
  static const auto* cases =
      new std::vector<Case>{{"mnasnet0_5", 64},   {"mobilenet_v3_small", 64}, {"densenet121", 64},
                            {"inception_v3", 80}, {"efficientnet_b0", 64},    {"shufflenet_v2_x0_5", 64}};
  return *cases;
}

Tensor JsonTensor(const json& j) {
  std::vector<int64_t> shape;
  std::vector<double> data;
  testing::ReadJsonTensor(j, &shape, &data);
  return Tensor(Shape::FromDims(shape).value(), std::vector<float>(data.begin(), data.end()));
}

// max |got - want| <= 1e-4 * max |want|, the acceptance bound.
void ExpectMatchesTorch(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape, want.shape) << what;
  double max_abs = 0.0, max_err = 0.0;
  int64_t worst = 0;
  for (int64_t i = 0; i < want.size(); ++i) {
    max_abs = std::max(max_abs, std::fabs(static_cast<double>(want.data[i])));
    const double err = std::fabs(static_cast<double>(got.data[i]) - want.data[i]);
    if (err > max_err || std::isnan(err)) {
      max_err = std::isnan(err) ? INFINITY : err;
      worst = i;
    }
  }
  EXPECT_LE(max_err, 1e-4 * max_abs) << what << ": worst at flat " << worst << ": got " << got.data[worst]
                                     << ", PyTorch " << want.data[worst] << " (max |y| " << max_abs << ")";
}

std::multiset<std::string> OpTypes(const onnx::ModelProto& proto) {
  std::multiset<std::string> ops;
  for (const onnx::NodeProto& node : proto.graph().node()) ops.insert(node.op_type());
  return ops;
}

class TorchvisionOpsTest : public ::testing::TestWithParam<Case> {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::ScopedTempDir();
    std::vector<std::string> argv = {
        "/usr/bin/python3", std::string(BNSERVE_FIXTURES_DIR) + "/../python/export_torchvision_cases.py", dir_->path()};
    for (const Case& c : Cases()) argv.push_back(c.name + ":" + std::to_string(c.size));
    const testing::CommandOutput out = testing::RunCommand(argv, dir_->path(), std::chrono::seconds(600));
    export_error_ =
        out.exit_code == 0 ? "" : "export script exited with " + std::to_string(out.exit_code) + ": " + out.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    ASSERT_EQ(export_error_, "");
    const std::string stem = dir_->path() + "/" + GetParam().name;
    expected_ = json::parse(testing::ReadWholeFile(stem + ".json"));
    auto model = Model::LoadFromFile(stem + ".onnx");
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *model;
    input_ = JsonTensor(expected_["input"]);
    output_ = JsonTensor(expected_["output"]);
  }

  Tensor Predict(const std::shared_ptr<const Model>& model) { return Predict(model, input_.view()); }
  Tensor Predict(const std::shared_ptr<const Model>& model, const TensorView& view) {
    auto plan = InferencePlan::Build(model, model->file_stats());
    EXPECT_TRUE(plan.ok()) << plan.status();
    if (!plan.ok()) return Tensor();
    auto out = (*plan)->Run({&view, 1});
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? (*out)[0] : Tensor();
  }

  static testing::ScopedTempDir* dir_;
  static std::string export_error_;
  json expected_;
  std::shared_ptr<const Model> model_;
  Tensor input_;
  Tensor output_;
};

testing::ScopedTempDir* TorchvisionOpsTest::dir_ = nullptr;
std::string TorchvisionOpsTest::export_error_;

TEST_P(TorchvisionOpsTest, FoldedPlanMatchesPyTorch) { ExpectMatchesTorch(Predict(model_), output_, "folded plan"); }

TEST_P(TorchvisionOpsTest, FoldedPlanMatchesPyTorchAtASecondBatchSize) {
  TensorView first = input_.view();
  first.shape[0] = 1;
  ExpectMatchesTorch(Predict(model_, first), JsonTensor(expected_["first_output"]), "folded plan, first image alone");
}

TEST_P(TorchvisionOpsTest, EvalStatisticsPassMatchesPyTorchAtEveryBnLayer) {
  auto plan = StatisticsPlan::Build(model_, model_->file_stats(), ForwardMode::kEval);
  ASSERT_TRUE(plan.ok()) << plan.status();
  WorkspacePool::Handle ws = (*plan)->workspaces().Acquire();
  BatchStatsSink sink;
  const TensorView view = input_.view();
  const absl::Status st = (*plan)->Run({&view, 1}, ws.get(), &sink);
  ASSERT_TRUE(st.ok()) << st;
  ExpectMatchesTorch((*plan)->output(*ws, 0), output_, "eval statistics pass");
  const json& means = expected_["bn_input_means"];
  ASSERT_EQ(sink.layers.size(), model_->bn_layers().size());
  ASSERT_EQ(means.size(), model_->bn_layers().size());
  for (size_t l = 0; l < sink.layers.size(); ++l) {
    const BnLayerInfo& info = model_->bn_layers()[l];
    ASSERT_TRUE(means.contains(info.mean_name)) << info.mean_name;
    const std::vector<double> want = means[info.mean_name].get<std::vector<double>>();
    ASSERT_EQ(sink.layers[l].size(), want.size()) << info.name;
    double scale = 0.0;
    for (double w : want) scale = std::max(scale, std::fabs(w));
    for (size_t c = 0; c < want.size(); ++c) {
      ASSERT_GT(sink.layers[l][c].count, 0) << info.name;
      ASSERT_NEAR(sink.layers[l][c].mean, want[c], 1e-4 * std::max(scale, 1e-3)) << info.name << " channel " << c;
    }
  }
}

TEST_P(TorchvisionOpsTest, ExportWithNewStatisticsLoadsAndPredicts) {
  // New statistics: every running variance doubled, so the reloaded model
  // must differ from the original by exactly what its plan computes.
  auto stats = std::make_shared<StatsSnapshot>(*model_->file_stats());
  for (LayerStats& layer : stats->layers) {
    for (double& v : layer.var) v *= 2.0;
  }
  auto proto = model_->RestoreProto();
  ASSERT_TRUE(proto.ok()) << proto.status();
  auto bytes = ExportOnnxWithStats(std::move(*proto), model_->bn_layers(), *stats, model_->base_dir());
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  // The file keeps the graph as exported (shape computations included), not
  // the folded one the plans run.
  onnx::ModelProto original, exported;
  ASSERT_TRUE(original.ParseFromString(testing::ReadWholeFile(dir_->path() + "/" + GetParam().name + ".onnx")));
  ASSERT_TRUE(exported.ParseFromString(*bytes));
  EXPECT_EQ(OpTypes(exported), OpTypes(original));
  auto reloaded = Model::LoadFromBytes(*bytes, model_->base_dir());
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  auto original_plan = InferencePlan::Build(model_, stats);
  ASSERT_TRUE(original_plan.ok()) << original_plan.status();
  const TensorView view = input_.view();
  auto want = (*original_plan)->Run({&view, 1});
  ASSERT_TRUE(want.ok()) << want.status();
  const Tensor got = Predict(*reloaded);
  ASSERT_EQ(got.shape, (*want)[0].shape);
  EXPECT_EQ(got.data, (*want)[0].data);
}

INSTANTIATE_TEST_SUITE_P(Architectures, TorchvisionOpsTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

}  // namespace
}  // namespace bnserve
