// FoldShapeComputations on hand-built graphs in the forms exporters write:
// the channel shuffle (Shape/Gather/Div/Unsqueeze/Concat -> Reshape), x.chunk
// (Slice bounds from the channel count), F.interpolate to the input's size
// (Resize sizes from Shape/Slice/Concat). Each folded graph must hold no
// int64 computation any more and, where it runs, give the reference result at
// two batch sizes, so the batch was not baked in. Graphs that cannot be
// folded fail with UNIMPLEMENTED naming the node.
#include "core/model/shape_folding.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "core/engine/compiled_graph.h"
#include "gtest/gtest.h"
#include "tests/test_util/graph_builder.h"

namespace bnserve {
namespace {

using testing::IntAttr;
using testing::IntConstant;
using testing::IntsAttr;
using testing::MakeNode;

// A graph with one input `x` of dims `dims`, dim 0 the symbolic batch.
Graph GraphWithInput(std::vector<int64_t> dims, int64_t opset = 13) {
  Graph g;
  g.opset = opset;
  ValueInfo x;
  x.name = "x";
  x.dims.push_back(Dim{-1, "batch"});
  for (int64_t d : dims) x.dims.push_back(Dim{d, ""});
  g.inputs.push_back(x);
  g.outputs.push_back(ValueInfo{"y", {}});
  return g;
}

void AddScalar(Graph* g, const std::string& name, int64_t v) { g->SetInitializer(name, IntConstant(Shape{}, {v})); }
void AddVector(Graph* g, const std::string& name, std::vector<int64_t> v) {
  g->SetInitializer(name, IntConstant(Shape{static_cast<int64_t>(v.size())}, v));
}

// Shape(x)[index] as a 1-element vector named `out`, the way torch writes
// x.size(index) into a list: Shape -> Gather(scalar) -> Unsqueeze.
void AddDimVector(Graph* g, const std::string& x, int64_t index, const std::string& out) {
  AddScalar(g, out + "_index", index);
  AddVector(g, "axes0", {0});
  g->nodes.push_back(MakeNode("Shape", {x}, {out + "_shape"}, out + "_Shape"));
  g->nodes.push_back(MakeNode("Gather", {out + "_shape", out + "_index"}, {out + "_scalar"}, out + "_Gather"));
  g->nodes.push_back(MakeNode("Unsqueeze", {out + "_scalar", "axes0"}, {out}, out + "_Unsqueeze"));
}

bool HasOp(const Graph& g, const std::string& op) {
  for (const Node& n : g.nodes) {
    if (n.op_type == op) return true;
  }
  return false;
}

const Node& OnlyNode(const Graph& g, const std::string& op) {
  for (const Node& n : g.nodes) {
    if (n.op_type == op) return n;
  }
  ADD_FAILURE() << "no " << op << " node";
  return g.nodes.front();
}

std::vector<int64_t> IntsOf(const Graph& g, const std::string& name) {
  const ConstantTensor* t = g.FindInitializer(name);
  EXPECT_NE(t, nullptr) << name;
  return t ? t->ints : std::vector<int64_t>{};
}

Tensor Iota(const Shape& shape) {
  Tensor t(shape, std::vector<float>(static_cast<size_t>(shape.NumElements())));
  for (int64_t i = 0; i < t.size(); ++i) t.data[i] = static_cast<float>(i);
  return t;
}

Tensor RunGraph(const Graph& g, const Tensor& x) {
  auto compiled = CompiledGraph::Build(g);
  EXPECT_TRUE(compiled.ok()) << compiled.status();
  if (!compiled.ok()) return Tensor();
  Workspace ws;
  const TensorView view = x.view();
  const absl::Status st = (*compiled)->Run({&view, 1}, &ws);
  EXPECT_TRUE(st.ok()) << st;
  return st.ok() ? (*compiled)->output(ws, 0) : Tensor();
}

// shufflenet's channel_shuffle(x, groups=2) on x [batch, 4, 2, 3]:
// view(b, 2, c/2, h, w) -> transpose(1, 2) -> view(b, -1, h, w).
Graph ChannelShuffle() {
  Graph g = GraphWithInput({4, 2, 3});
  AddDimVector(&g, "x", 0, "b");
  AddDimVector(&g, "x", 2, "h");
  AddDimVector(&g, "x", 3, "w");
  AddScalar(&g, "c_index", 1);
  AddScalar(&g, "two", 2);
  AddVector(&g, "groups", {2});
  AddVector(&g, "minus_one", {-1});
  g.nodes.push_back(MakeNode("Shape", {"x"}, {"s"}, "Shape_c"));
  g.nodes.push_back(MakeNode("Gather", {"s", "c_index"}, {"c"}, "Gather_c"));
  g.nodes.push_back(MakeNode("Div", {"c", "two"}, {"half"}, "Div"));
  g.nodes.push_back(MakeNode("Cast", {"half"}, {"half64"}, "Cast"));
  g.nodes.back().attributes["to"] = IntAttr(7);
  g.nodes.push_back(MakeNode("Unsqueeze", {"half64", "axes0"}, {"half_v"}, "Unsqueeze_half"));
  g.nodes.push_back(MakeNode("Concat", {"b", "groups", "half_v", "h", "w"}, {"shape5"}, "Concat5"));
  g.nodes.back().attributes["axis"] = IntAttr(0);
  g.nodes.push_back(MakeNode("Reshape", {"x", "shape5"}, {"r5"}, "Reshape5"));
  g.nodes.push_back(MakeNode("Transpose", {"r5"}, {"t5"}, "Transpose"));
  g.nodes.back().attributes["perm"] = IntsAttr({0, 2, 1, 3, 4});
  g.nodes.push_back(MakeNode("Concat", {"b", "minus_one", "h", "w"}, {"shape4"}, "Concat4"));
  g.nodes.back().attributes["axis"] = IntAttr(0);
  g.nodes.push_back(MakeNode("Reshape", {"t5", "shape4"}, {"y"}, "Reshape4"));
  return g;
}

TEST(ShapeFoldingTest, ChannelShuffleFoldsToBatchFreeReshapesAndRunsAtAnyBatch) {
  Graph g = ChannelShuffle();
  ASSERT_TRUE(FoldShapeComputations(&g).ok());
  ASSERT_EQ(g.nodes.size(), 3u) << "only Reshape, Transpose, Reshape stay";
  EXPECT_FALSE(HasOp(g, "Shape"));
  // The batch entry becomes 0 (copy the input's batch dim) in both targets.
  EXPECT_EQ(IntsOf(g, "shape5"), (std::vector<int64_t>{0, 2, 2, 2, 3}));
  EXPECT_EQ(IntsOf(g, "shape4"), (std::vector<int64_t>{0, -1, 2, 3}));
  for (int64_t batch : {1, 3}) {
    const Tensor x = Iota(Shape{batch, 4, 2, 3});
    const Tensor y = RunGraph(g, x);
    ASSERT_EQ(y.shape, x.shape) << "batch " << batch;
    // Output channel c takes input channel (c % 2) * 2 + c / 2.
    for (int64_t n = 0; n < batch; ++n) {
      for (int64_t c = 0; c < 4; ++c) {
        const int64_t src = (c % 2) * 2 + c / 2;
        for (int64_t k = 0; k < 6; ++k) {
          ASSERT_EQ(y.data[(n * 4 + c) * 6 + k], x.data[(n * 4 + src) * 6 + k]) << "batch " << batch << " c " << c;
        }
      }
    }
  }
}

TEST(ShapeFoldingTest, ViewFromConvOutputDimsRunsAtAnyBatch) {
  // x.view(x.size(0), x.size(2) * x.size(3), x.size(1)) after a strided,
  // padded Conv: the folder must infer the Conv's output dims.
  Graph g = GraphWithInput({2, 5, 5});
  g.SetInitializer("w", testing::FloatConstant(Shape{3, 2, 3, 3}, std::vector<float>(54, 0.5f)));
  g.nodes.push_back(MakeNode("Conv", {"x", "w"}, {"c"}, "Conv"));
  g.nodes.back().attributes["strides"] = IntsAttr({2, 2});
  g.nodes.back().attributes["pads"] = IntsAttr({1, 1, 1, 1});
  AddDimVector(&g, "c", 0, "b");
  AddDimVector(&g, "c", 1, "ch");
  AddDimVector(&g, "c", 2, "h");
  AddDimVector(&g, "c", 3, "w_");
  g.nodes.push_back(MakeNode("Mul", {"h", "w_"}, {"hw"}, "Mul"));
  g.nodes.push_back(MakeNode("Concat", {"b", "hw", "ch"}, {"target"}, "Concat"));
  g.nodes.back().attributes["axis"] = IntAttr(0);
  g.nodes.push_back(MakeNode("Reshape", {"c", "target"}, {"y"}, "Reshape"));
  ASSERT_TRUE(FoldShapeComputations(&g).ok());
  ASSERT_EQ(g.nodes.size(), 2u);
  // (5 + 1 + 1 - 3) / 2 + 1 = 3 per spatial axis.
  EXPECT_EQ(IntsOf(g, "target"), (std::vector<int64_t>{0, 9, 3}));
  for (int64_t batch : {1, 3}) {
    const Tensor y = RunGraph(g, Iota(Shape{batch, 2, 5, 5}));
    EXPECT_EQ(y.shape, (Shape{batch, 9, 3})) << "batch " << batch;
  }
}

TEST(ShapeFoldingTest, BatchWhereTheInputHasNoBatchDimBecomesMinusOne) {
  // x [batch, 6] viewed as [3, batch * 2]: the target is (3, batch, 2) flattened
  // by a second reshape; here the first target [3, batch, 2] has the batch at
  // position 1, where the input has 6, so only -1 can stand for it.
  Graph g = GraphWithInput({6});
  AddDimVector(&g, "x", 0, "b");
  AddVector(&g, "three", {3});
  AddVector(&g, "two_v", {2});
  g.nodes.push_back(MakeNode("Concat", {"three", "b", "two_v"}, {"target"}, "Concat"));
  g.nodes.back().attributes["axis"] = IntAttr(0);
  g.nodes.push_back(MakeNode("Reshape", {"x", "target"}, {"y"}, "Reshape"));
  ASSERT_TRUE(FoldShapeComputations(&g).ok());
  EXPECT_EQ(IntsOf(g, "target"), (std::vector<int64_t>{3, -1, 2}));
  const Tensor y = RunGraph(g, Iota(Shape{2, 6}));
  EXPECT_EQ(y.shape, (Shape{3, 2, 2}));
}

TEST(ShapeFoldingTest, ChunkBoundsOnFloatDataBecomeConstants) {
  // x.chunk(2, dim=1) as torch 1.13 writes it: ends = (C + 1) / 2 * k.
  Graph g = GraphWithInput({6, 2, 2});
  AddVector(&g, "axis1", {1});
  AddVector(&g, "zero", {0});
  AddVector(&g, "one", {1});
  AddVector(&g, "two", {2});
  g.nodes.push_back(MakeNode("Shape", {"x"}, {"s"}, "Shape"));
  g.nodes.push_back(MakeNode("Gather", {"s", "axis1"}, {"c"}, "Gather"));
  g.nodes.push_back(MakeNode("Add", {"c", "one"}, {"c1"}, "Add"));
  g.nodes.push_back(MakeNode("Div", {"c1", "two"}, {"half"}, "Div"));
  g.nodes.push_back(MakeNode("Mul", {"half", "one"}, {"end0"}, "Mul"));
  g.nodes.push_back(MakeNode("Mul", {"half", "two"}, {"end1"}, "Mul_1"));
  g.nodes.push_back(MakeNode("Slice", {"x", "end0", "end1", "axis1"}, {"y"}, "Slice"));
  g.nodes.push_back(MakeNode("Slice", {"x", "zero", "end0", "axis1"}, {"unused"}, "Slice_0"));
  ASSERT_TRUE(FoldShapeComputations(&g).ok());
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(IntsOf(g, "end0"), (std::vector<int64_t>{3}));
  EXPECT_EQ(IntsOf(g, "end1"), (std::vector<int64_t>{6}));
  const Tensor x = Iota(Shape{2, 6, 2, 2});
  const Tensor y = RunGraph(g, x);
  ASSERT_EQ(y.shape, (Shape{2, 3, 2, 2}));
  EXPECT_EQ(y.data[0], x.data[12]);        // batch 0, channel 3
  EXPECT_EQ(y.data[12], x.data[24 + 12]);  // batch 1, channel 3
}

TEST(ShapeFoldingTest, ResizeSizesWithTheBatchBecomeScales) {
  // F.interpolate(f, size=x.shape[-2:]): sizes = Concat(Shape(f)[0:2], [H, W]).
  Graph g = GraphWithInput({3, 8, 6}, 13);
  g.nodes.push_back(MakeNode("MaxPool", {"x"}, {"f"}, "Pool"));
  g.nodes.back().attributes["kernel_shape"] = IntsAttr({2, 2});
  g.nodes.back().attributes["strides"] = IntsAttr({2, 2});
  AddDimVector(&g, "x", 2, "H");
  AddDimVector(&g, "x", 3, "W");
  AddVector(&g, "s0", {0});
  AddVector(&g, "s2", {2});
  g.nodes.push_back(MakeNode("Shape", {"f"}, {"fs"}, "Shape_f"));
  g.nodes.push_back(MakeNode("Slice", {"fs", "s0", "s2", "s0"}, {"nc"}, "Slice_nc"));
  g.nodes.push_back(MakeNode("Concat", {"nc", "H", "W"}, {"sizes"}, "Concat_sizes"));
  g.nodes.back().attributes["axis"] = IntAttr(0);
  g.nodes.push_back(MakeNode("Resize", {"f", "", "", "sizes"}, {"y"}, "Resize"));
  ASSERT_TRUE(FoldShapeComputations(&g).ok());
  ASSERT_EQ(g.nodes.size(), 2u);
  const Node& resize = OnlyNode(g, "Resize");
  ASSERT_EQ(resize.inputs.size(), 3u);
  const ConstantTensor* scales = g.FindInitializer(resize.inputs[2]);
  ASSERT_NE(scales, nullptr);
  EXPECT_EQ(scales->floats, (std::vector<float>{1.0f, 1.0f, 2.0f, 2.0f}));
}

TEST(ShapeFoldingTest, ResizeScaleRoundsUpSoTheSizeComesBack) {
  // 3 -> 10: 10/3 rounded to the nearest float times 3 floors to 9.
  for (auto [in, out] : {std::pair<int64_t, int64_t>{7, 20}, {49, 1}, {3, 10}, {5, 13}}) {
    Graph g = GraphWithInput({2, in, in});
    AddVector(&g, "s0", {0});
    AddVector(&g, "s2", {2});
    AddVector(&g, "hw", {out, out});
    g.nodes.push_back(MakeNode("Shape", {"x"}, {"xs"}, "Shape"));
    g.nodes.push_back(MakeNode("Slice", {"xs", "s0", "s2", "s0"}, {"nc"}, "Slice"));
    g.nodes.push_back(MakeNode("Concat", {"nc", "hw"}, {"sizes"}, "Concat"));
    g.nodes.back().attributes["axis"] = IntAttr(0);
    g.nodes.push_back(MakeNode("Resize", {"x", "", "", "sizes"}, {"y"}, "Resize"));
    ASSERT_TRUE(FoldShapeComputations(&g).ok());
    const ConstantTensor* scales = g.FindInitializer(g.nodes[0].inputs[2]);
    ASSERT_NE(scales, nullptr);
    for (int a = 2; a < 4; ++a) {
      const double got = std::floor(static_cast<double>(in) * scales->floats[a]);
      EXPECT_EQ(got, static_cast<double>(out)) << in << " -> " << out;
    }
  }
}

TEST(ShapeFoldingTest, GraphWithoutShapeComputationsIsUnchanged) {
  Graph g = GraphWithInput({4});
  AddVector(&g, "target", {0, 2, 2});
  g.nodes.push_back(MakeNode("Reshape", {"x", "target"}, {"y"}, "Reshape"));
  const Graph before = g;
  ASSERT_TRUE(FoldShapeComputations(&g).ok());
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].inputs, before.nodes[0].inputs);
  EXPECT_EQ(g.initializers.size(), before.initializers.size());
}

TEST(ShapeFoldingTest, ShapeOfATensorWhoseDimsCannotBeInferredIsUnimplemented) {
  Graph g = GraphWithInput({4});
  g.nodes.push_back(MakeNode("NonMaxSuppression", {"x"}, {"boxes"}, "nms"));
  g.nodes.push_back(MakeNode("Shape", {"boxes"}, {"s"}, "Shape_boxes"));
  g.nodes.push_back(MakeNode("Reshape", {"x", "s"}, {"y"}, "Reshape"));
  const absl::Status st = FoldShapeComputations(&g);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnimplemented) << st;
  EXPECT_NE(st.message().find("Shape node 'Shape_boxes'"), std::string::npos) << st;
  EXPECT_NE(st.message().find("'boxes'"), std::string::npos) << st;
}

TEST(ShapeFoldingTest, BatchSizeOutsideReshapeAndResizeIsUnimplemented) {
  // Slicing the channels up to the batch size depends on the batch.
  Graph g = GraphWithInput({4});
  AddDimVector(&g, "x", 0, "b");
  AddVector(&g, "zero", {0});
  AddVector(&g, "one", {1});
  g.nodes.push_back(MakeNode("Slice", {"x", "zero", "b", "one"}, {"y"}, "Slice_by_batch"));
  const absl::Status st = FoldShapeComputations(&g);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnimplemented) << st;
  EXPECT_NE(st.message().find("Slice node 'Slice_by_batch'"), std::string::npos) << st;
  EXPECT_NE(st.message().find("batch size"), std::string::npos) << st;
}

}  // namespace
}  // namespace bnserve
