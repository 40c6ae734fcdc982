#include "core/model/bn_layers.h"

#include <string>
#include <vector>

#include "core/graph/onnx_loader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util/onnx_builder.h"
#include "tests/test_util/test_util.h"

namespace bnserve {
namespace {

using ::bnserve::testing::DoubleTensor;
using ::bnserve::testing::FixturePath;
using ::bnserve::testing::FloatTensor;
using ::bnserve::testing::OnnxBuilder;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kHint[] = "export with model.eval() and TrainingMode.PRESERVE";

void ExpectError(const absl::Status& status, absl::StatusCode code, const std::vector<std::string>& fragments) {
  EXPECT_EQ(status.code(), code) << status;
  for (const std::string& f : fragments) EXPECT_THAT(std::string(status.message()), HasSubstr(f));
}

absl::StatusOr<std::vector<BnLayerInfo>> Discover(const OnnxBuilder& b) {
  auto loaded = ParseOnnxModel(b.Bytes(), "");
  if (!loaded.ok()) return loaded.status();
  return DiscoverBnLayers(loaded->graph);
}

// x: [N, 5] -> BatchNormalization "bn1" -> y, stats as PyTorch names them.
OnnxBuilder BnModel(int64_t opset) {
  OnnxBuilder b(opset);
  b.Input("x", {"N", 5})
      .Output("y", {"N", 5})
      .BatchNorm("bn1", "x", "y", {0.5f, 1, 1.5f, 2, -1}, {0, 0.1f, 0.2f, 0.3f, 0.4f}, {1, 2, 3, 4, 5},
                 {0.5f, 0.25f, 2, 8, 1.5f});
  return b;
}

TEST(BnLayersTest, Opset9InferenceFormFillsEveryField) {
  auto layers = Discover(BnModel(9));
  ASSERT_TRUE(layers.ok()) << layers.status();
  ASSERT_EQ(layers->size(), 1u);
  const BnLayerInfo& l = (*layers)[0];
  EXPECT_EQ(l.name, "bn1");
  EXPECT_EQ(l.node_index, 0);
  EXPECT_EQ(l.input_name, "x");
  EXPECT_EQ(l.scale_name, "bn1.weight");
  EXPECT_EQ(l.bias_name, "bn1.bias");
  EXPECT_EQ(l.mean_name, "bn1.running_mean");
  EXPECT_EQ(l.var_name, "bn1.running_var");
  EXPECT_EQ(l.channels, 5);
  // Schema defaults, as float32 attributes widened.
  EXPECT_EQ(l.epsilon, 9.999999747378752e-06);
  EXPECT_EQ(l.onnx_momentum, 0.8999999761581421);
  ASSERT_TRUE(l.torch_momentum.has_value());
  EXPECT_EQ(*l.torch_momentum, 0.10000002384185791);
  EXPECT_TRUE(l.has_affine);
  EXPECT_THAT(l.gamma, ElementsAre(0.5, 1.0, 1.5, 2.0, -1.0));
  EXPECT_THAT(l.beta, ElementsAre(0.0, static_cast<double>(0.1f), static_cast<double>(0.2f), static_cast<double>(0.3f),
                                  static_cast<double>(0.4f)));
}

TEST(BnLayersTest, Opset9TrainingOutputsRejected) {
  OnnxBuilder b(9);
  b.Input("x", {"N", 5}).Output("y", {"N", 5});
  b.BatchNorm("bn1", "x", "y", {1, 1, 1, 1, 1}, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}, {1, 1, 1, 1, 1});
  onnx::NodeProto* node = b.mutable_model()->mutable_graph()->mutable_node(0);
  for (const char* out : {"mean_out", "var_out", "saved_mean", "saved_var"}) node->add_output(out);
  ExpectError(Discover(b).status(), absl::StatusCode::kFailedPrecondition,
              {"BatchNormalization node 'bn1'", "5 outputs", kHint});
}

TEST(BnLayersTest, Opset14TrainingModeZeroAccepted) {
  OnnxBuilder b = BnModel(14);
  b.AttrInt("training_mode", 0);
  auto layers = Discover(b);
  ASSERT_TRUE(layers.ok()) << layers.status();
  EXPECT_EQ(layers->size(), 1u);
}

TEST(BnLayersTest, TrainingModeOneRejected) {
  OnnxBuilder b = BnModel(14);
  b.AttrInt("training_mode", 1);
  onnx::NodeProto* node = b.mutable_model()->mutable_graph()->mutable_node(0);
  node->add_output("running_mean_out");
  node->add_output("running_var_out");
  ExpectError(Discover(b).status(), absl::StatusCode::kFailedPrecondition,
              {"BatchNormalization node 'bn1'", "training_mode=1", kHint});
}

TEST(BnLayersTest, Opset14ExtraOutputsRejectedEvenWithTrainingModeZero) {
  OnnxBuilder b = BnModel(14);
  b.mutable_model()->mutable_graph()->mutable_node(0)->add_output("running_mean_out");
  ExpectError(Discover(b).status(), absl::StatusCode::kFailedPrecondition, {"2 outputs", kHint});
}

TEST(BnLayersTest, Opset15WithDoubleStatistics) {
  // Opset 15 decouples the statistics' type (T2) from X's: double mean/var.
  OnnxBuilder b(15);
  b.Input("x", {"N", 3, 4, 4})
      .Output("y", {"N", 3, 4, 4})
      .Initializer("g", {3}, {1, 2, 3})
      .Initializer("b", {3}, {0, 0, 0})
      .Initializer(DoubleTensor("m", {3}, {0.1, 0.2, 0.3}))
      .Initializer(DoubleTensor("v", {3}, {1.0 / 3.0, 2, 4}))
      .Node("BatchNormalization", {"x", "g", "b", "m", "v"}, {"y"}, "bn_conv")
      .AttrInt("training_mode", 0);
  auto loaded = ParseOnnxModel(b.Bytes(), "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto layers = DiscoverBnLayers(loaded->graph);
  ASSERT_TRUE(layers.ok()) << layers.status();
  ASSERT_EQ(layers->size(), 1u);
  EXPECT_EQ((*layers)[0].channels, 3);
  auto snapshot = SnapshotFromGraph(loaded->graph, *layers);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  // bnserve keeps constants as float32: the double statistics come back rounded.
  EXPECT_THAT(snapshot->layers[0].mean,
              ElementsAre(static_cast<double>(0.1f), static_cast<double>(0.2f), static_cast<double>(0.3f)));
  EXPECT_EQ(snapshot->layers[0].var[0], static_cast<double>(static_cast<float>(1.0 / 3.0)));
}

TEST(BnLayersTest, LegacySpatialZeroUnimplemented) {
  OnnxBuilder b = BnModel(7);
  b.AttrInt("spatial", 0);
  ExpectError(Discover(b).status(), absl::StatusCode::kUnimplemented, {"bn1", "spatial=0"});
}

TEST(BnLayersTest, StatisticsComputedByTheGraphRejected) {
  // What a track_running_stats=False export looks like: mean from ReduceMean.
  OnnxBuilder b(15);
  b.Input("x", {"N", 3})
      .Output("y", {"N", 3})
      .Initializer("g", {3}, {1, 1, 1})
      .Initializer("b", {3}, {0, 0, 0})
      .Initializer("v", {3}, {1, 1, 1})
      .Node("ReduceMean", {"x"}, {"batch_mean"}, "mean_of_batch")
      .AttrInts("axes", {0})
      .AttrInt("keepdims", 0)
      .Node("BatchNormalization", {"x", "g", "b", "batch_mean", "v"}, {"y"}, "bn_nostats");
  ExpectError(Discover(b).status(), absl::StatusCode::kFailedPrecondition,
              {"BatchNormalization node 'bn_nostats'", "mean 'batch_mean'", "not a constant initializer",
               "its running statistics are computed by the graph, not stored", kHint});
}

TEST(BnLayersTest, ParametersOfDifferentLengthsRejected) {
  OnnxBuilder b(15);
  b.Input("x", {"N", 3})
      .Output("y", {"N", 3})
      .Initializer("g", {3}, {1, 1, 1})
      .Initializer("b", {3}, {0, 0, 0})
      .Initializer("m", {3}, {0, 0, 0})
      .Initializer("v", {4}, {1, 1, 1, 1})
      .Node("BatchNormalization", {"x", "g", "b", "m", "v"}, {"y"}, "bn");
  ExpectError(Discover(b).status(), absl::StatusCode::kFailedPrecondition, {"bn", "var of length 4", "length 3"});
}

TEST(BnLayersTest, AffineDetection) {
  struct Case {
    std::vector<float> gamma, beta;
    bool has_affine;
  };
  const std::vector<Case> cases = {
      {{1, 1, 1}, {0, 0, 0}, false},
      {{1, 1, 1}, {0, 1e-7f, 0}, true},
      {{1, 1, 1.0000001f}, {0, 0, 0}, true},
      {{2, 3, 4}, {0, 0, 0}, true},
  };
  for (const Case& c : cases) {
    OnnxBuilder b(15);
    b.Input("x", {"N", 3}).Output("y", {"N", 3}).BatchNorm("bn", "x", "y", c.gamma, c.beta, {0, 0, 0}, {1, 1, 1});
    auto layers = Discover(b);
    ASSERT_TRUE(layers.ok()) << layers.status();
    EXPECT_EQ((*layers)[0].has_affine, c.has_affine) << "gamma[2]=" << c.gamma[2] << " beta[1]=" << c.beta[1];
  }
}

TEST(BnLayersTest, PyTorchAffineFalseExportHasNoAffine) {
  // affine=False: PyTorch exports scale and B as Constant nodes of ones/zeros.
  OnnxBuilder b(13);
  b.Input("x", {"N", 3})
      .Output("y", {"N", 3})
      .Constant("ones", FloatTensor("", {3}, {1, 1, 1}))
      .Constant("zeros", FloatTensor("", {3}, {0, 0, 0}))
      .Initializer("bn.running_mean", {3}, {0.5f, 0, -0.5f})
      .Initializer("bn.running_var", {3}, {1, 2, 3})
      .Node("BatchNormalization", {"x", "ones", "zeros", "bn.running_mean", "bn.running_var"}, {"y"}, "bn");
  auto layers = Discover(b);
  ASSERT_TRUE(layers.ok()) << layers.status();
  EXPECT_FALSE((*layers)[0].has_affine);
  EXPECT_THAT((*layers)[0].gamma, ElementsAre(1.0, 1.0, 1.0));
}

TEST(BnLayersTest, MomentumConversion) {
  struct Case {
    std::optional<float> stored;
    double onnx_momentum;
    std::optional<double> torch_momentum;
  };
  const std::vector<Case> cases = {
      {0.9f, 0.8999999761581421, 0.10000002384185791},
      {std::nullopt, 0.8999999761581421, 0.10000002384185791},  // schema default
      {0.99f, 0.9900000095367432, 0.009999990463256836},
      {1.0f, 1.0, std::nullopt},  // PyTorch momentum=None (cumulative average)
      {0.0f, 0.0, 1.0},
  };
  for (const Case& c : cases) {
    OnnxBuilder b = BnModel(15);
    if (c.stored) b.AttrFloat("momentum", *c.stored);
    auto layers = Discover(b);
    ASSERT_TRUE(layers.ok()) << layers.status();
    const BnLayerInfo& l = (*layers)[0];
    EXPECT_EQ(l.onnx_momentum, c.onnx_momentum);
    EXPECT_EQ(l.torch_momentum, c.torch_momentum) << "stored " << c.onnx_momentum;
  }
}

TEST(BnLayersTest, EpsilonReadFromNode) {
  OnnxBuilder b = BnModel(15);
  b.AttrFloat("epsilon", 1e-3f);
  auto layers = Discover(b);
  ASSERT_TRUE(layers.ok()) << layers.status();
  EXPECT_EQ((*layers)[0].epsilon, 0.0010000000474974513);
}

TEST(BnLayersTest, MistypedOrNegativeEpsilonRejected) {
  OnnxBuilder wrong_type = BnModel(15);
  wrong_type.AttrInt("epsilon", 1);
  ExpectError(Discover(wrong_type).status(), absl::StatusCode::kInvalidArgument, {"bn1", "'epsilon'", "FLOAT"});
  OnnxBuilder negative = BnModel(15);
  negative.AttrFloat("epsilon", -1e-5f);
  ExpectError(Discover(negative).status(), absl::StatusCode::kInvalidArgument, {"bn1", "epsilon must be >= 0"});
}

TEST(BnLayersTest, SharedRunningMeanRejected) {
  OnnxBuilder b = BnModel(15);
  b.Output("z", {"N", 5})
      .Node("BatchNormalization", {"y", "bn1.weight", "bn1.bias", "bn1.running_mean", "v2"}, {"z"}, "bn2");
  b.Initializer("v2", {5}, {1, 1, 1, 1, 1});
  ExpectError(Discover(b).status(), absl::StatusCode::kFailedPrecondition,
              {"BatchNormalization node 'bn1'", "'bn1.running_mean' is also read by BatchNormalization node 'bn2'"});
}

TEST(BnLayersTest, RunningVarReadByAnotherNodeRejected) {
  OnnxBuilder b = BnModel(15);
  b.Output("z", {5}).Node("Sqrt", {"bn1.running_var"}, {"z"}, "stddev");
  ExpectError(Discover(b).status(), absl::StatusCode::kFailedPrecondition,
              {"'bn1.running_var' is also read by Sqrt node 'stddev'"});
}

TEST(BnLayersTest, SameInitializerForMeanAndVarRejected) {
  OnnxBuilder b(15);
  b.Input("x", {"N", 2})
      .Output("y", {"N", 2})
      .Initializer("p", {2}, {1, 1})
      .Node("BatchNormalization", {"x", "p", "p", "p", "p"}, {"y"}, "bn");
  ExpectError(Discover(b).status(), absl::StatusCode::kFailedPrecondition, {"'p' is also read by"});
}

TEST(BnLayersTest, LayerNamingRules) {
  OnnxBuilder b(15);
  b.Input("x", {"N", 2}).Output("y", {"N", 2});
  onnx::GraphProto* g = b.mutable_model()->mutable_graph();
  // 0: a named node keeps its name.
  b.BatchNorm("s0", "x", "a", {1, 1}, {0, 0}, {0, 0}, {1, 1});
  g->mutable_node(0)->set_name("first");
  // 1: unnamed with a PyTorch-style mean: the module path.
  b.BatchNorm("block.bn", "a", "c", {1, 1}, {0, 0}, {0, 0}, {1, 1});
  g->mutable_node(1)->clear_name();
  // 2: unnamed, mean without the ".running_mean" suffix: BatchNormalization_<layer
  // ordinal>, not the node index (3, after the Relu) the loader named the node by.
  b.Node("Relu", {"c"}, {"c2"}, "relu");
  b.Initializer("m", {2}, {0, 0}).Initializer("v", {2}, {1, 1});
  b.Node("BatchNormalization", {"c2", "s0.weight", "s0.bias", "m", "v"}, {"d"});
  // 3: unnamed, module path equal to layer 0's name: made unique.
  b.BatchNorm("first", "d", "y", {1, 1}, {0, 0}, {0, 0}, {1, 1});
  g->mutable_node(4)->clear_name();
  auto layers = Discover(b);
  ASSERT_TRUE(layers.ok()) << layers.status();
  std::vector<std::string> names;
  for (const BnLayerInfo& l : *layers) names.push_back(l.name);
  EXPECT_THAT(names, ElementsAre("first", "block.bn", "BatchNormalization_2", "first_1"));
}

TEST(BnLayersTest, LayerOrderIsSortedGraphOrder) {
  OnnxBuilder b(15);
  b.Input("x", {"N", 3}).Output("y", {"N", 3});
  b.BatchNorm("late", "r", "y", {1, 1, 1}, {0, 0, 0}, {0, 0, 0}, {1, 1, 1});
  b.Node("Relu", {"e"}, {"r"}, "relu");
  b.BatchNorm("early", "x", "e", {1, 1, 1}, {0, 0, 0}, {0, 0, 0}, {1, 1, 1});
  auto loaded = ParseOnnxModel(b.Bytes(), "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto layers = DiscoverBnLayers(loaded->graph);
  ASSERT_TRUE(layers.ok()) << layers.status();
  ASSERT_EQ(layers->size(), 2u);
  EXPECT_EQ((*layers)[0].name, "early");
  EXPECT_EQ((*layers)[0].node_index, 0);
  EXPECT_EQ((*layers)[1].name, "late");
  EXPECT_EQ((*layers)[1].node_index, 2);
  EXPECT_EQ(loaded->graph.nodes[(*layers)[1].node_index].name, "late");
}

TEST(BnLayersTest, NonDefaultDomainBatchNormIsNotALayer) {
  OnnxBuilder b = BnModel(15);
  b.mutable_model()->mutable_graph()->mutable_node(0)->set_domain("com.example");
  auto layers = Discover(b);
  ASSERT_TRUE(layers.ok()) << layers.status();
  EXPECT_TRUE(layers->empty());
}

TEST(BnLayersTest, TorchDeduplicatedStatisticsViaIdentity) {
  // A fresh BN exported by torch 1.13: running_var == weight (ones) and
  // running_mean == bias (zeros) are deduplicated into Identity nodes.
  OnnxBuilder b(13);
  b.Input("x", {"N", 3})
      .Output("y", {"N", 3})
      .Initializer("bn.weight", {3}, {1, 1, 1})
      .Initializer("bn.bias", {3}, {0, 0, 0})
      .Node("Identity", {"bn.weight"}, {"bn.running_var"}, "Identity_0")
      .Node("Identity", {"bn.bias"}, {"bn.running_mean"}, "Identity_1")
      .Node("BatchNormalization", {"x", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"}, {"y"},
            "/bn/BatchNormalization");
  auto loaded = ParseOnnxModel(b.Bytes(), "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto layers = DiscoverBnLayers(loaded->graph);
  ASSERT_TRUE(layers.ok()) << layers.status();
  ASSERT_EQ(layers->size(), 1u);
  EXPECT_FALSE((*layers)[0].has_affine);
  auto snapshot = SnapshotFromGraph(loaded->graph, *layers);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_THAT(snapshot->layers[0].mean, ElementsAre(0.0, 0.0, 0.0));
  EXPECT_THAT(snapshot->layers[0].var, ElementsAre(1.0, 1.0, 1.0));
}

TEST(BnLayersTest, SnapshotFromGraphReadsStoredStatistics) {
  // Seven channels, values that are not exact decimals in float32.
  const std::vector<float> mean = {0.1f, -0.2f, 1.0f / 3.0f, 4, -5.5f, 1e-8f, 123.456f};
  const std::vector<float> var = {1, 0.3f, 2.0f / 3.0f, 7, 1e-6f, 0.0f, 99.9f};
  OnnxBuilder b(15);
  b.Input("x", {"N", 7})
      .Output("y", {"N", 7})
      .BatchNorm("bn", "x", "y", std::vector<float>(7, 1), std::vector<float>(7, 0), mean, var);
  auto loaded = ParseOnnxModel(b.Bytes(), "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto layers = DiscoverBnLayers(loaded->graph);
  ASSERT_TRUE(layers.ok()) << layers.status();
  auto snapshot = SnapshotFromGraph(loaded->graph, *layers);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->version, 1);
  ASSERT_EQ(snapshot->layers.size(), 1u);
  const LayerStats& s = snapshot->layers[0];
  ASSERT_EQ(s.mean.size(), 7u);
  for (size_t c = 0; c < 7; ++c) {
    EXPECT_EQ(s.mean[c], static_cast<double>(mean[c])) << "channel " << c;
    EXPECT_EQ(s.var[c], static_cast<double>(var[c])) << "channel " << c;
  }
  EXPECT_EQ(s.num_batches_tracked, 0);
  EXPECT_EQ(s.sample_count, 0);
}

TEST(BnLayersTest, SnapshotFromGraphRejectsLayersOfAnotherGraph) {
  auto loaded = ParseOnnxModel(BnModel(15).Bytes(), "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto layers = DiscoverBnLayers(loaded->graph);
  ASSERT_TRUE(layers.ok()) << layers.status();
  std::vector<BnLayerInfo> wrong = *layers;
  wrong[0].channels = 6;
  ExpectError(SnapshotFromGraph(loaded->graph, wrong).status(), absl::StatusCode::kFailedPrecondition,
              {"BN layer 'bn1'", "length 6"});
  wrong = *layers;
  wrong[0].var_name = "nope";
  ExpectError(SnapshotFromGraph(loaded->graph, wrong).status(), absl::StatusCode::kFailedPrecondition, {"'nope'"});
}

TEST(BnLayersTest, PyTorchExportedModel) {
  const nlohmann::json expected = testing::LoadJsonFixture("loader/tiny_expected.json");
  auto loaded = LoadOnnxFile(FixturePath("loader/tiny.onnx"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto layers = DiscoverBnLayers(loaded->graph);
  ASSERT_TRUE(layers.ok()) << layers.status();
  ASSERT_EQ(layers->size(), 1u);
  const BnLayerInfo& l = (*layers)[0];
  EXPECT_EQ(l.name, expected["bn_node_name"].get<std::string>());
  EXPECT_EQ(l.input_name, "/fc/Gemm_output_0");
  EXPECT_EQ(l.mean_name, "bn.running_mean");
  EXPECT_EQ(l.var_name, "bn.running_var");
  EXPECT_EQ(l.scale_name, "bn.weight");
  EXPECT_EQ(l.bias_name, "bn.bias");
  EXPECT_EQ(l.channels, 5);
  EXPECT_EQ(l.epsilon, expected["epsilon"].get<double>());
  EXPECT_EQ(l.onnx_momentum, expected["onnx_momentum"].get<double>());
  EXPECT_EQ(l.torch_momentum, 0.10000002384185791);
  EXPECT_TRUE(l.has_affine);
  const nlohmann::json& init = expected["initializers"];
  EXPECT_EQ(l.gamma, init["bn.weight"].get<std::vector<double>>());
  EXPECT_EQ(l.beta, init["bn.bias"].get<std::vector<double>>());
  auto snapshot = SnapshotFromGraph(loaded->graph, *layers);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->layers[0].mean, init["bn.running_mean"].get<std::vector<double>>());
  EXPECT_EQ(snapshot->layers[0].var, init["bn.running_var"].get<std::vector<double>>());
  EXPECT_TRUE(ValidateSnapshot(*layers, *snapshot).ok());
}

TEST(BnLayersTest, PyTorchExportWithDeduplicatedStatistics) {
  // Reset statistics: torch re-creates most of them as Identity nodes of
  // other tensors (see tests/fixtures/loader/make_tiny.py).
  const nlohmann::json expected = testing::LoadJsonFixture("loader/tiny_dedup_expected.json");
  auto loaded = LoadOnnxFile(FixturePath("loader/tiny_dedup.onnx"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto layers = DiscoverBnLayers(loaded->graph);
  ASSERT_TRUE(layers.ok()) << layers.status();
  auto snapshot = SnapshotFromGraph(loaded->graph, *layers);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  ASSERT_EQ(layers->size(), expected["layers"].size());
  for (size_t l = 0; l < layers->size(); ++l) {
    const nlohmann::json& want = expected["layers"][l];
    const BnLayerInfo& info = (*layers)[l];
    EXPECT_EQ(info.name, want["node_name"].get<std::string>());
    EXPECT_EQ(info.has_affine, want["has_affine"].get<bool>()) << info.name;
    EXPECT_EQ(info.gamma, want["gamma"].get<std::vector<double>>()) << info.name;
    EXPECT_EQ(info.beta, want["beta"].get<std::vector<double>>()) << info.name;
    EXPECT_EQ(snapshot->layers[l].mean, want["mean"].get<std::vector<double>>()) << info.name;
    EXPECT_EQ(snapshot->layers[l].var, want["var"].get<std::vector<double>>()) << info.name;
  }
}

}  // namespace
}  // namespace bnserve
