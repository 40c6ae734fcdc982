// Upsampling as torch.onnx.export writes it (README's call: PRESERVE, no
// constant folding), in the forms whose scales are constants in the file:
// F.interpolate(scale_factor=...) at opset 9 (Upsample), 11 and 13 (Resize),
// after a Conv-BN-ReLU so the plan folds around it. The bnserve prediction
// must match PyTorch's. PyTorch writes the scales as a Concat of two Constant
// nodes; the script replaces it by its value (one Constant), so that this
// test depends on Resize alone; folding such subgraphs at load, and sizes
// computed from the input's shape, are the shape operators' tests.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/engine/inference_plan.h"
#include "core/model/model.h"
#include "gtest/gtest.h"
#include "tests/test_util/subprocess_util.h"

namespace bnserve {
namespace {

// Exports the model and writes its input and PyTorch's output (float32 raw).
constexpr char kExport[] = R"(
import sys, numpy, onnx, torch, torch.nn as nn, torch.nn.functional as F
from onnx import helper, numpy_helper
sys.path.insert(0, sys.argv[5])
from bn_export import randomize_bn
out_dir, opset, mode, align = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x)))
        kwargs = {} if mode == "nearest" else {"align_corners": align}
        return F.interpolate(y, scale_factor=(2.0, 3.0), mode=mode, **kwargs)
torch.manual_seed(5)
net = Net()
randomize_bn(net, torch.Generator().manual_seed(6))
net.eval()
x = torch.randn(2, 3, 5, 7)
torch.onnx.export(net, x, out_dir + "/model.onnx", training=torch.onnx.TrainingMode.PRESERVE,
                  do_constant_folding=False, opset_version=opset, input_names=["input"],
                  output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
m = onnx.load(out_dir + "/model.onnx")
constants = {n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in m.graph.node if n.op_type == "Constant"}
nodes = []
for n in m.graph.node:
    if n.op_type == "Concat" and all(i in constants for i in n.input):
        value = numpy.concatenate([constants[i] for i in n.input])
        n = helper.make_node("Constant", [], [n.output[0]], name=n.name, value=numpy_helper.from_array(value))
    nodes.append(n)
del m.graph.node[:]
m.graph.node.extend(nodes)
onnx.checker.check_model(m)
onnx.save(m, out_dir + "/model.onnx")
with torch.no_grad():
    net(x).numpy().tofile(out_dir + "/y.bin")
x.numpy().tofile(out_dir + "/x.bin")
)";

std::vector<float> ReadFloats(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<float> values;
  float v;
  while (in.read(reinterpret_cast<char*>(&v), sizeof(v))) values.push_back(v);
  return values;
}

struct ExportCase {
  int opset;
  std::string mode;  // F.interpolate's
  bool align_corners;
};

class ResizeExportTest : public ::testing::TestWithParam<ExportCase> {};

TEST_P(ResizeExportTest, PredictionMatchesPyTorch) {
  const ExportCase& c = GetParam();
  const std::string what = absl::StrCat("opset ", c.opset, " ", c.mode, " align_corners ", c.align_corners);
  const std::string dir = testing::MakeTempDir("resize_export");
  ASSERT_FALSE(dir.empty());
  const testing::CommandOutput export_run =
      testing::RunCommand({"/usr/bin/python3", "-c", kExport, dir, std::to_string(c.opset), c.mode,
                           c.align_corners ? "1" : "0", std::string(BNSERVE_FIXTURES_DIR) + "/../python"},
                          dir);
  ASSERT_EQ(export_run.exit_code, 0) << what << ": " << export_run.err;
  auto model = Model::LoadFromFile(dir + "/model.onnx");
  ASSERT_TRUE(model.ok()) << what << ": " << model.status();
  const std::vector<float> x = ReadFloats(dir + "/x.bin");
  const std::vector<float> expected = ReadFloats(dir + "/y.bin");
  std::filesystem::remove_all(dir);
  const TensorView view{Shape{2, 3, 5, 7}, x.data()};
  for (bool fold : {true, false}) {
    auto plan = InferencePlan::Build(*model, (*model)->file_stats(), PlanOptions{fold});
    ASSERT_TRUE(plan.ok()) << what << ": " << plan.status();
    auto out = (*plan)->Run({&view, 1});
    ASSERT_TRUE(out.ok()) << what << ": " << out.status();
    ASSERT_EQ((*out)[0].shape, (Shape{2, 4, 10, 21})) << what;
    double scale = 0.0;
    for (float e : expected) scale = std::max(scale, std::fabs(static_cast<double>(e)));
    for (size_t i = 0; i < expected.size(); ++i) {
      ASSERT_NEAR((*out)[0].data[i], expected[i], 1e-5 * scale) << what << (fold ? " folded" : "") << " at " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Exports, ResizeExportTest,
                         ::testing::Values(ExportCase{9, "nearest", false}, ExportCase{11, "nearest", false},
                                           ExportCase{11, "bilinear", false}, ExportCase{13, "bilinear", false},
                                           ExportCase{13, "bilinear", true}, ExportCase{13, "nearest", false}),
                         [](const ::testing::TestParamInfo<ExportCase>& info) {
                           return absl::StrCat("Opset", info.param.opset, "_", info.param.mode,
                                               info.param.align_corners ? "_align_corners" : "");
                         });

}  // namespace
}  // namespace bnserve
