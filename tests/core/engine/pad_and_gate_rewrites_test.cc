// FoldPads and FuseGatedActivations (core/engine/graph_rewrites.h): which
// graphs they rewrite, and that a rewritten graph computes what the original
// does, both compiled and run on the same random input.
#include <string>
#include <vector>

#include "core/engine/compiled_graph.h"
#include "core/engine/graph_rewrites.h"
#include "core/engine/ops/fused_activation.h"
#include "gtest/gtest.h"
#include "tests/test_util/graph_builder.h"
#include "tests/test_util/op_test_util.h"

namespace bnserve {
namespace {

using testing::FloatAttr;
using testing::FloatConstant;
using testing::IntAttr;
using testing::IntConstant;
using testing::IntsAttr;
using testing::MakeNode;
using testing::RandomTensor;
using testing::StringAttr;

Tensor RunGraph(const Graph& graph, const Tensor& x) {
  auto compiled = CompiledGraph::Build(graph);
  EXPECT_TRUE(compiled.ok()) << compiled.status();
  if (!compiled.ok()) return Tensor();
  Workspace ws;
  const TensorView view = x.view();
  const absl::Status st = (*compiled)->Run({&view, 1}, &ws);
  EXPECT_TRUE(st.ok()) << st;
  return (*compiled)->output(ws, 0);
}

void ExpectSameOutputs(const Graph& original, const Graph& rewritten, const Tensor& x, double rel_tol) {
  const Tensor want = RunGraph(original, x);
  const Tensor got = RunGraph(rewritten, x);
  testing::ExpectAllClose(got, want.shape, std::vector<double>(want.data.begin(), want.data.end()), rel_tol,
                          "rewritten graph");
}

int CountOps(const Graph& graph, const std::string& op_type) {
  int n = 0;
  for (const Node& node : graph.nodes) n += node.op_type == op_type;
  return n;
}

// x[1,3,6,6] -> Pad(pads) -> consumer -> y.
Graph PadThen(const std::vector<int64_t>& pads, Node consumer, int64_t opset = 13) {
  Graph g;
  g.opset = opset;
  g.inputs.push_back(ValueInfo{"x", {}});
  g.outputs.push_back(ValueInfo{"y", {}});
  g.SetInitializer("pads", IntConstant(Shape{8}, pads));
  g.nodes.push_back(MakeNode("Pad", {"x", "pads"}, {"p"}, "pad"));
  consumer.inputs.insert(consumer.inputs.begin(), "p");
  consumer.outputs = {"y"};
  g.nodes.push_back(consumer);
  return g;
}

Node AveragePool(int64_t ceil_mode, int64_t count_include_pad, std::vector<int64_t> own_pads) {
  Node pool = MakeNode("AveragePool", {}, {}, "pool");
  pool.attributes["kernel_shape"] = IntsAttr({3, 3});
  pool.attributes["strides"] = IntsAttr({2, 2});
  pool.attributes["ceil_mode"] = IntAttr(ceil_mode);
  pool.attributes["count_include_pad"] = IntAttr(count_include_pad);
  pool.attributes["pads"] = IntsAttr(std::move(own_pads));
  return pool;
}

TEST(PadRewritesTest, ZeroPadFoldsIntoAveragePoolCountingThePadding) {
  // Inception v3's avg_pool2d(3, stride 1, padding 1) exports as Pad + AveragePool.
  for (const std::vector<int64_t>& own : {std::vector<int64_t>{0, 0, 0, 0}, std::vector<int64_t>{1, 0, 0, 1}}) {
    const Graph original = PadThen({0, 0, 1, 2, 0, 0, 1, 0}, AveragePool(0, 1, own));
    Graph g = original;
    FoldPads(&g);
    ASSERT_EQ(CountOps(g, "Pad"), 0);
    const Node& pool = g.nodes[0];
    EXPECT_EQ(pool.inputs[0], "x");
    EXPECT_EQ(pool.GetInts("pads", {}), (std::vector<int64_t>{1 + own[0], 2 + own[1], 1 + own[2], own[3]}));
    EXPECT_EQ(pool.GetInt("count_include_pad", 0), 1);
    ExpectSameOutputs(original, g, RandomTensor(Shape{1, 3, 6, 6}, 1), 1e-6);
  }
  // Without padding of its own, count_include_pad=0 folds too (the Pad's zeros were real cells).
  const Graph exclude = PadThen({0, 0, 1, 1, 0, 0, 1, 1}, AveragePool(0, 0, {0, 0, 0, 0}));
  Graph g = exclude;
  FoldPads(&g);
  EXPECT_EQ(CountOps(g, "Pad"), 0);
  ExpectSameOutputs(exclude, g, RandomTensor(Shape{1, 3, 6, 6}, 2), 1e-6);
}

TEST(PadRewritesTest, PadStaysWhereFoldingWouldChangeTheResult) {
  const std::vector<Graph> kept = {
      PadThen({0, 0, 1, 1, 0, 0, 1, 1}, AveragePool(1, 1, {0, 0, 0, 0})),     // ceil_mode
      PadThen({0, 0, 1, 1, 0, 0, 1, 1}, AveragePool(0, 0, {1, 1, 1, 1})),     // own pads not counted
      PadThen({0, 1, 1, 1, 0, 0, 1, 1}, AveragePool(0, 1, {0, 0, 0, 0})),     // channel padding
      PadThen({0, 0, -1, 1, 0, 0, 1, 1}, AveragePool(0, 1, {0, 0, 0, 0})),    // cropping
      PadThen({0, 0, 1, 1, 0, 0, 1, 1}, MakeNode("MaxPool", {}, {}, "max")),  // zeros are not -inf
  };
  for (size_t k = 0; k < kept.size(); ++k) {
    Graph g = kept[k];
    if (g.nodes[1].op_type == "MaxPool") g.nodes[1].attributes["kernel_shape"] = IntsAttr({2, 2});
    const Graph original = g;
    FoldPads(&g);
    EXPECT_EQ(CountOps(g, "Pad"), 1) << "case " << k;
  }
  // A reflect Pad, and a Pad whose output has a second reader, stay too.
  Graph reflect = PadThen({0, 0, 1, 1, 0, 0, 1, 1}, AveragePool(0, 1, {0, 0, 0, 0}));
  reflect.nodes[0].attributes["mode"] = StringAttr("reflect");
  FoldPads(&reflect);
  EXPECT_EQ(CountOps(reflect, "Pad"), 1);
  Graph shared = PadThen({0, 0, 1, 1, 0, 0, 1, 1}, AveragePool(0, 1, {0, 0, 0, 0}));
  shared.outputs.push_back(ValueInfo{"p", {}});
  FoldPads(&shared);
  EXPECT_EQ(CountOps(shared, "Pad"), 1);
}

TEST(PadRewritesTest, ZeroPadFoldsIntoConvAndAllZeroPadVanishes) {
  Node conv = MakeNode("Conv", {"W", "B"}, {}, "conv");
  conv.attributes["pads"] = IntsAttr({1, 0, 1, 0});
  Graph original = PadThen({0, 0, 2, 1, 0, 0, 0, 3}, conv);
  original.SetInitializer("W", FloatConstant(Shape{4, 3, 3, 3}, RandomTensor(Shape{4, 3, 3, 3}, 5).ToVector()));
  original.SetInitializer("B", FloatConstant(Shape{4}, {0.5f, -1.0f, 0.25f, 2.0f}));
  Graph g = original;
  FoldPads(&g);
  ASSERT_EQ(CountOps(g, "Pad"), 0);
  EXPECT_EQ(g.nodes[0].GetInts("pads", {}), (std::vector<int64_t>{3, 1, 1, 3}));
  ExpectSameOutputs(original, g, RandomTensor(Shape{1, 3, 6, 6}, 6), 1e-5);

  // DenseNet's transitions: Pad with all-zero pads before AveragePool(2).
  Graph nothing = PadThen({0, 0, 0, 0, 0, 0, 0, 0}, MakeNode("Relu", {}, {}, "relu"));
  FoldPads(&nothing);
  ASSERT_EQ(nothing.nodes.size(), 1u);
  EXPECT_EQ(nothing.nodes[0].inputs[0], "x");
}

TEST(PadRewritesTest, PadsAttributeBeforeOpset11Folds) {
  Graph original = PadThen({0, 0, 1, 1, 0, 0, 1, 1}, AveragePool(0, 1, {0, 0, 0, 0}), 10);
  original.nodes[0].inputs.resize(1);
  original.nodes[0].attributes["pads"] = IntsAttr({0, 0, 1, 1, 0, 0, 1, 1});
  original.nodes[0].attributes["value"] = FloatAttr(0.0f);
  Graph g = original;
  FoldPads(&g);
  EXPECT_EQ(CountOps(g, "Pad"), 0);
  ExpectSameOutputs(original, g, RandomTensor(Shape{1, 3, 6, 6}, 8), 1e-6);
  Graph nonzero = original;
  nonzero.nodes[0].attributes["value"] = FloatAttr(1.0f);
  FoldPads(&nonzero);
  EXPECT_EQ(CountOps(nonzero, "Pad"), 1);
}

// x -> Conv -> c; gate(c) -> s; Mul(c, s) (or Mul(s, c)) -> y.
Graph ConvGate(const std::string& gate_type, bool gate_first) {
  Graph g;
  g.opset = 13;
  g.inputs.push_back(ValueInfo{"x", {}});
  g.outputs.push_back(ValueInfo{"y", {}});
  g.SetInitializer("W", FloatConstant(Shape{4, 3, 1, 1}, RandomTensor(Shape{4, 3, 1, 1}, 3, -2.0f, 2.0f).ToVector()));
  g.nodes.push_back(MakeNode("Conv", {"x", "W"}, {"c"}, "conv"));
  Node gate = MakeNode(gate_type, {"c"}, {"s"}, "gate");
  if (gate_type == "HardSigmoid") gate.attributes["alpha"] = FloatAttr(1.0f / 6.0f);
  g.nodes.push_back(gate);
  g.nodes.push_back(MakeNode(
      "Mul", gate_first ? std::vector<std::string>{"s", "c"} : std::vector<std::string>{"c", "s"}, {"y"}, "mul"));
  return g;
}

TEST(GateRewritesTest, HardSwishAndSiLUFuseIntoTheProducer) {
  for (const auto& [gate, fused] :
       std::vector<std::pair<std::string, std::string>>{{"HardSigmoid", "HardSwish"}, {"Sigmoid", "SiLU"}}) {
    for (bool gate_first : {false, true}) {
      const Graph original = ConvGate(gate, gate_first);
      Graph g = original;
      FuseGatedActivations(&g);
      ASSERT_EQ(g.nodes.size(), 1u) << gate;
      EXPECT_EQ(g.nodes[0].op_type, "Conv");
      EXPECT_EQ(g.nodes[0].outputs[0], "y");
      ASSERT_NE(g.nodes[0].FindAttribute(kFusedActivationAttr), nullptr);
      EXPECT_EQ(g.nodes[0].FindAttribute(kFusedActivationAttr)->s, fused);
      ExpectSameOutputs(original, g, RandomTensor(Shape{2, 3, 5, 5}, 4, -4.0f, 4.0f), 1e-6);
    }
  }
}

TEST(GateRewritesTest, GateStaysWhenTheValueHasOtherReadersOrTheMulIsNotAGate) {
  Graph shared = ConvGate("Sigmoid", false);
  shared.outputs.push_back(ValueInfo{"c", {}});  // c is also a graph output
  FuseGatedActivations(&shared);
  EXPECT_EQ(shared.nodes.size(), 3u);

  Graph other = ConvGate("Sigmoid", false);
  other.inputs.push_back(ValueInfo{"z", {}});
  other.nodes[2].inputs = {"z", "s"};  // z * sigmoid(c): squeeze-excitation's scale, not SiLU
  FuseGatedActivations(&other);
  EXPECT_EQ(other.nodes.size(), 3u);

  Graph relu_gate = ConvGate("Relu", false);
  FuseGatedActivations(&relu_gate);
  EXPECT_EQ(relu_gate.nodes.size(), 3u);
}

TEST(GateRewritesTest, StandaloneHardActivationsFuseLikeRelu) {
  for (const char* act : {"HardSigmoid", "HardSwish", "Sigmoid"}) {
    Graph g;
    g.opset = 14;
    g.inputs.push_back(ValueInfo{"x", {}});
    g.outputs.push_back(ValueInfo{"y", {}});
    g.SetInitializer("W", FloatConstant(Shape{4, 3, 1, 1}, RandomTensor(Shape{4, 3, 1, 1}, 9, -2.0f, 2.0f).ToVector()));
    g.nodes.push_back(MakeNode("Conv", {"x", "W"}, {"c"}, "conv"));
    g.nodes.push_back(MakeNode(act, {"c"}, {"y"}, "act"));
    const Graph original = g;
    FuseActivations(&g);
    ASSERT_EQ(g.nodes.size(), 1u) << act;
    EXPECT_EQ(g.nodes[0].FindAttribute(kFusedActivationAttr)->s, act);
    ExpectSameOutputs(original, g, RandomTensor(Shape{1, 3, 4, 4}, 10, -5.0f, 5.0f), 1e-6);
  }
}

}  // namespace
}  // namespace bnserve
