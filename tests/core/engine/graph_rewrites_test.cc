// Structure and arithmetic of the plan-building rewrites, checked on small
// hand-built graphs (no operators run here; the PyTorch parity test checks
// that the rewritten graphs compute the same outputs).
#include "core/engine/graph_rewrites.h"

#include <cmath>

#include "core/engine/op.h"
#include "core/engine/ops/fused_activation.h"
#include "gtest/gtest.h"
#include "tests/test_util/graph_builder.h"

namespace bnserve {
namespace {

using testing::FloatConstant;
using testing::MakeNode;

// x -> Conv(W[2,1,1,1], b) -> BN -> Relu -> y, one BN layer with 2 channels.
struct ConvBnRelu {
  Graph graph;
  std::vector<BnLayerInfo> layers;
  StatsSnapshot stats;

  ConvBnRelu() {
    graph.opset = 13;
    graph.inputs.push_back(ValueInfo{"x", {}});
    graph.outputs.push_back(ValueInfo{"y", {}});
    graph.SetInitializer("W", FloatConstant(Shape{2, 1, 1, 1}, {2.0f, -3.0f}));
    graph.SetInitializer("b", FloatConstant(Shape{2}, {0.5f, 1.0f}));
    graph.nodes.push_back(MakeNode("Conv", {"x", "W", "b"}, {"c"}, "conv"));
    graph.nodes.push_back(MakeNode("BatchNormalization", {"c", "g", "be", "m", "v"}, {"n"}, "bn"));
    graph.nodes.push_back(MakeNode("Relu", {"n"}, {"y"}, "relu"));
    BnLayerInfo info;
    info.name = "bn";
    info.node_index = 1;
    info.channels = 2;
    info.epsilon = 1e-3;
    info.gamma = {1.5, 0.5};
    info.beta = {0.1, -0.2};
    layers.push_back(info);
    stats.layers.push_back(LayerStats{{1.0, -2.0}, {4.0, 0.25}, 0, 0});
  }
};

TEST(GraphRewritesTest, BatchNormBecomesChannelAffineWithFloat64Parameters) {
  ConvBnRelu g;
  ASSERT_TRUE(ReplaceBatchNorms(g.layers, g.stats, &g.graph).ok());
  const Node& affine = g.graph.nodes[1];
  EXPECT_EQ(affine.op_type, "ChannelAffine");
  EXPECT_EQ(affine.domain, kBnserveDomain);
  const ConstantTensor* scale = g.graph.FindInitializer(affine.inputs[1]);
  const ConstantTensor* shift = g.graph.FindInitializer(affine.inputs[2]);
  ASSERT_NE(scale, nullptr);
  ASSERT_NE(shift, nullptr);
  const double s0 = 1.5 / std::sqrt(4.0 + 1e-3);
  EXPECT_DOUBLE_EQ(scale->exact[0], s0);
  EXPECT_DOUBLE_EQ(shift->exact[0], 0.1 - 1.0 * s0);
  EXPECT_EQ(scale->floats[0], static_cast<float>(s0));
}

TEST(GraphRewritesTest, AffineFoldsIntoConvAndReluFuses) {
  ConvBnRelu g;
  ASSERT_TRUE(ReplaceBatchNorms(g.layers, g.stats, &g.graph).ok());
  FoldAffineIntoProducers(&g.graph);
  FuseActivations(&g.graph);
  ASSERT_EQ(g.graph.nodes.size(), 1u);
  const Node& conv = g.graph.nodes[0];
  EXPECT_EQ(conv.op_type, "Conv");
  EXPECT_EQ(conv.outputs[0], "y");
  ASSERT_NE(conv.FindAttribute(kFusedActivationAttr), nullptr);
  EXPECT_EQ(conv.FindAttribute(kFusedActivationAttr)->s, "Relu");
  const ConstantTensor* w = g.graph.FindInitializer(conv.inputs[1]);
  const ConstantTensor* b = g.graph.FindInitializer(conv.inputs[2]);
  for (int o = 0; o < 2; ++o) {
    const double scale = g.layers[0].gamma[o] / std::sqrt(g.stats.layers[0].var[o] + 1e-3);
    const double shift = g.layers[0].beta[o] - g.stats.layers[0].mean[o] * scale;
    const double w0 = o == 0 ? 2.0 : -3.0;
    const double b0 = o == 0 ? 0.5 : 1.0;
    EXPECT_EQ(w->floats[o], static_cast<float>(w0 * scale));
    EXPECT_EQ(b->floats[o], static_cast<float>(scale * b0 + shift));
  }
  // The original weights are untouched (another plan may use them).
  EXPECT_EQ(g.graph.FindInitializer("W")->floats[0], 2.0f);
}

TEST(GraphRewritesTest, NoFoldWhenConvOutputHasAnotherReader) {
  ConvBnRelu g;
  g.graph.outputs.push_back(ValueInfo{"c", {}});  // the conv output is also a graph output
  ASSERT_TRUE(ReplaceBatchNorms(g.layers, g.stats, &g.graph).ok());
  FoldAffineIntoProducers(&g.graph);
  ASSERT_EQ(g.graph.nodes.size(), 3u);
  EXPECT_EQ(g.graph.nodes[1].op_type, "ChannelAffine");
  FuseActivations(&g.graph);
  ASSERT_EQ(g.graph.nodes.size(), 2u);  // the Relu still fuses into the affine
  EXPECT_EQ(g.graph.nodes[1].FindAttribute(kFusedActivationAttr)->s, "Relu");
}

// Found by tests/fuzz/fuzz_onnx_loader (regressions/fuzz_onnx_loader/): an
// activation node with no input, or an empty one, used to be read at
// inputs[0]. Fusion must leave such nodes alone for plan building to reject.
TEST(GraphRewritesTest, ActivationsWithoutDataInputAreNotFused) {
  for (const std::vector<std::string>& inputs : {std::vector<std::string>{}, std::vector<std::string>{""}}) {
    for (const char* op : {"Relu", "LeakyRelu", "Clip"}) {
      SCOPED_TRACE(std::string(op) + " with " + std::to_string(inputs.size()) + " inputs");
      Graph graph;
      graph.opset = 13;
      graph.inputs.push_back(ValueInfo{"x", {}});
      graph.outputs.push_back(ValueInfo{"y", {}});
      graph.nodes.push_back(MakeNode("Add", {"x", "x"}, {""}, "add"));
      graph.nodes.push_back(MakeNode(op, inputs, {"y"}, "act"));
      FuseActivations(&graph);
      ASSERT_EQ(graph.nodes.size(), 2u);
      EXPECT_EQ(graph.nodes[0].FindAttribute(kFusedActivationAttr), nullptr);
    }
  }
}

TEST(GraphRewritesTest, GemmFoldScalesOutputColumnsAndBias) {
  Graph graph;
  graph.opset = 13;
  graph.inputs.push_back(ValueInfo{"x", {}});
  graph.outputs.push_back(ValueInfo{"y", {}});
  // transB=1: B is [out=2, in=3] as nn.Linear stores it.
  graph.SetInitializer("B", FloatConstant(Shape{2, 3}, {1, 2, 3, 4, 5, 6}));
  graph.SetInitializer("C", FloatConstant(Shape{2}, {0.5f, -0.5f}));
  Node gemm = MakeNode("Gemm", {"x", "B", "C"}, {"h"}, "fc");
  Attribute trans;
  trans.kind = Attribute::Kind::kInt;
  trans.i = 1;
  gemm.attributes["transB"] = trans;
  graph.nodes.push_back(gemm);
  graph.nodes.push_back(MakeNode("BatchNormalization", {"h", "g", "be", "m", "v"}, {"y"}, "bn"));
  BnLayerInfo info;
  info.name = "bn";
  info.node_index = 1;
  info.channels = 2;
  info.epsilon = 1e-5;
  info.gamma = {2.0, 1.0};
  info.beta = {0.0, 1.0};
  StatsSnapshot stats;
  stats.layers.push_back(LayerStats{{0.25, 1.0}, {1.0, 9.0}, 0, 0});
  ASSERT_TRUE(ReplaceBatchNorms({info}, stats, &graph).ok());
  FoldAffineIntoProducers(&graph);
  ASSERT_EQ(graph.nodes.size(), 1u);
  const ConstantTensor* b = graph.FindInitializer(graph.nodes[0].inputs[1]);
  const ConstantTensor* c = graph.FindInitializer(graph.nodes[0].inputs[2]);
  const double s1 = 1.0 / std::sqrt(9.0 + 1e-5);
  EXPECT_EQ(b->floats[3], static_cast<float>(4.0 * s1));  // row 1 = output column 1
  EXPECT_EQ(c->floats[1], static_cast<float>(s1 * -0.5 + (1.0 - 1.0 * s1)));
  EXPECT_EQ(graph.nodes[0].GetFloat("beta", 0.0f), 1.0f);
}

TEST(GraphRewritesTest, IdentityAndDropoutAreRemovedUnlessTheyAreOutputs) {
  Graph graph;
  graph.inputs.push_back(ValueInfo{"x", {}});
  graph.outputs.push_back(ValueInfo{"y", {}});
  graph.nodes.push_back(MakeNode("Identity", {"x"}, {"a"}, "id"));
  graph.nodes.push_back(MakeNode("Dropout", {"a"}, {"b"}, "drop"));
  graph.nodes.push_back(MakeNode("Relu", {"b"}, {"c"}, "relu"));
  graph.nodes.push_back(MakeNode("Identity", {"c"}, {"y"}, "out"));
  RemoveIdentities(&graph);
  ASSERT_EQ(graph.nodes.size(), 2u);
  EXPECT_EQ(graph.nodes[0].op_type, "Relu");
  EXPECT_EQ(graph.nodes[0].inputs[0], "x");
  EXPECT_EQ(graph.nodes[1].name, "out");
}

}  // namespace
}  // namespace bnserve
