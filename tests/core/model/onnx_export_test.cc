#include "core/model/onnx_export.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/graph/onnx_loader.h"
#include "core/model/bn_layers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util/onnx_builder.h"
#include "tests/test_util/test_util.h"

namespace bnserve {
namespace {

using ::bnserve::testing::DoubleTensor;
using ::bnserve::testing::FixturePath;
using ::bnserve::testing::Float16Tensor;
using ::bnserve::testing::FloatTensor;
using ::bnserve::testing::MakeTestDir;
using ::bnserve::testing::MoveToExternal;
using ::bnserve::testing::OnnxBuilder;
using ::bnserve::testing::TensorEncoding;
using ::bnserve::testing::WriteTestFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A loaded model with its layers, ready to export.
struct Loaded {
  LoadedOnnx onnx;
  std::vector<BnLayerInfo> layers;
  StatsSnapshot snapshot;
};

absl::StatusOr<Loaded> LoadBytes(const std::string& bytes, const std::string& base_dir = "") {
  Loaded out;
  BN_ASSIGN_OR_RETURN(out.onnx, ParseOnnxModel(bytes, base_dir));
  BN_ASSIGN_OR_RETURN(out.layers, DiscoverBnLayers(out.onnx.graph));
  BN_ASSIGN_OR_RETURN(out.snapshot, SnapshotFromGraph(out.onnx.graph, out.layers));
  return out;
}

// New statistics that differ from the file's and are not float32-exact:
// mean = 1/3 + 0.37 c + layer, var = 0.5 + c / 7 + layer.
StatsSnapshot NewStats(const std::vector<BnLayerInfo>& layers, int64_t version) {
  StatsSnapshot s;
  s.version = version;
  for (size_t l = 0; l < layers.size(); ++l) {
    LayerStats stats;
    for (int64_t c = 0; c < layers[l].channels; ++c) {
      stats.mean.push_back(1.0 / 3.0 + 0.37 * c + l);
      stats.var.push_back(0.5 + c / 7.0 + l);
    }
    stats.num_batches_tracked = 100 + static_cast<int64_t>(l);
    s.layers.push_back(stats);
  }
  return s;
}

std::vector<double> RoundToFloat(const std::vector<double>& v) {
  std::vector<double> out;
  for (double x : v) out.push_back(static_cast<float>(x));
  return out;
}

std::map<std::string, std::string> Metadata(const onnx::ModelProto& model) {
  std::map<std::string, std::string> out;
  for (const auto& e : model.metadata_props()) out[e.key()] = e.value();
  return out;
}

const onnx::TensorProto* FindInitializerProto(const onnx::ModelProto& model, const std::string& name) {
  for (const onnx::TensorProto& t : model.graph().initializer()) {
    if (t.name() == name) return &t;
  }
  return nullptr;
}

// Gemm -> BN (float raw) -> BN (float_data, 7 channels) -> BN (double stats).
// Three layers of 7 channels each (Gemm output width).
std::string ThreeLayerModel() {
  std::vector<float> w(4 * 7);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.1f * static_cast<float>(i) - 1.3f;
  OnnxBuilder b(15);
  b.Input("x", {"batch", 4}).Output("y", {"batch", 7}).MetadataProp("author", "test");
  b.Initializer("fc.weight", {7, 4}, w).Initializer("fc.bias", {7}, {1, 2, 3, 4, 5, 6, 7}, TensorEncoding::kTyped);
  b.Node("Gemm", {"x", "fc.weight", "fc.bias"}, {"h"}, "fc").AttrInt("transB", 1);
  b.BatchNorm("bn1", "h", "h1", {1, 2, 3, 4, 5, 6, 7}, {0, 0, 0, 0, 0, 0, 1}, {0, 1, 2, 3, 4, 5, 6},
              {1, 1, 1, 1, 1, 1, 1});
  b.AttrFloat("epsilon", 1e-3f);
  b.Initializer("bn2.weight", {7}, {1, 1, 1, 1, 1, 1, 1}, TensorEncoding::kTyped)
      .Initializer("bn2.bias", {7}, {0, 0, 0, 0, 0, 0, 0}, TensorEncoding::kTyped)
      .Initializer("bn2.running_mean", {7}, {9, 9, 9, 9, 9, 9, 9}, TensorEncoding::kTyped)
      .Initializer("bn2.running_var", {7}, {2, 2, 2, 2, 2, 2, 2}, TensorEncoding::kTyped)
      .Node("BatchNormalization", {"h1", "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var"}, {"h2"},
            "bn2");
  b.Initializer("bn3.weight", {7}, {1, 1, 1, 1, 1, 1, 1})
      .Initializer("bn3.bias", {7}, {0, 0, 0, 0, 0, 0, 0})
      .Initializer(DoubleTensor("bn3.running_mean", {7}, {1, 2, 3, 4, 5, 6, 7}))
      .Initializer(DoubleTensor("bn3.running_var", {7}, {3, 3, 3, 3, 3, 3, 3}, TensorEncoding::kTyped))
      .Node("BatchNormalization", {"h2", "bn3.weight", "bn3.bias", "bn3.running_mean", "bn3.running_var"}, {"y"},
            "bn3");
  return b.Bytes();
}

TEST(OnnxExportTest, RoundTripCarriesNewStatisticsAndNothingElse) {
  auto original = LoadBytes(ThreeLayerModel());
  ASSERT_TRUE(original.ok()) << original.status();
  ASSERT_EQ(original->layers.size(), 3u);
  const StatsSnapshot stats = NewStats(original->layers, 4);
  auto bytes = ExportOnnxWithStats(*original->onnx.proto, original->layers, stats, "");
  ASSERT_TRUE(bytes.ok()) << bytes.status();

  auto reloaded = LoadBytes(*bytes);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  ASSERT_EQ(reloaded->layers.size(), 3u);
  for (size_t l = 0; l < 3; ++l) {
    const bool is_double = l == 2;
    // Float32 statistics come back rounded to float32. Double ones are stored
    // exactly in the file but bnserve's graph keeps constants as float32.
    EXPECT_EQ(reloaded->snapshot.layers[l].mean, RoundToFloat(stats.layers[l].mean)) << "layer " << l;
    EXPECT_EQ(reloaded->snapshot.layers[l].var, RoundToFloat(stats.layers[l].var)) << "layer " << l;
    EXPECT_EQ(reloaded->layers[l].name, original->layers[l].name);
    EXPECT_EQ(reloaded->layers[l].epsilon, original->layers[l].epsilon);
    const onnx::TensorProto* mean = FindInitializerProto(*reloaded->onnx.proto, original->layers[l].mean_name);
    ASSERT_NE(mean, nullptr);
    EXPECT_EQ(mean->data_type(), is_double ? onnx::TensorProto::DOUBLE : onnx::TensorProto::FLOAT);
    EXPECT_EQ(mean->float_data_size() + mean->double_data_size(), 0) << "payload must be raw_data";
    EXPECT_EQ(mean->raw_data().size(), 7u * (is_double ? 8 : 4));
  }
  // Double statistics keep full precision in the file.
  const onnx::TensorProto* mean3 = FindInitializerProto(*reloaded->onnx.proto, "bn3.running_mean");
  double first;
  std::memcpy(&first, mean3->raw_data().data(), 8);
  EXPECT_EQ(first, stats.layers[2].mean[0]);

  // Everything but the six statistics tensors and the metadata is unchanged.
  const onnx::ModelProto& before = *original->onnx.proto;
  const onnx::ModelProto& after = *reloaded->onnx.proto;
  ASSERT_EQ(after.graph().initializer_size(), before.graph().initializer_size());
  int changed = 0;
  for (int i = 0; i < before.graph().initializer_size(); ++i) {
    const onnx::TensorProto& a = before.graph().initializer(i);
    const onnx::TensorProto& b = after.graph().initializer(i);
    EXPECT_EQ(a.name(), b.name());
    if (a.SerializeAsString() != b.SerializeAsString()) ++changed;
    const bool is_stat = a.name().find("running_") != std::string::npos;
    EXPECT_EQ(a.SerializeAsString() == b.SerializeAsString(), !is_stat) << a.name();
  }
  EXPECT_EQ(changed, 6);
  onnx::ModelProto before_rest = before;
  onnx::ModelProto after_rest = after;
  before_rest.mutable_graph()->clear_initializer();
  after_rest.mutable_graph()->clear_initializer();
  before_rest.clear_metadata_props();
  after_rest.clear_metadata_props();
  EXPECT_EQ(before_rest.SerializeAsString(), after_rest.SerializeAsString());

  const auto metadata = Metadata(after);
  EXPECT_EQ(metadata.at("author"), "test");
  EXPECT_EQ(metadata.at("bnserve.stats_version"), "4");
  EXPECT_EQ(metadata.at("bnserve.num_batches_tracked.bn1"), "100");
  EXPECT_EQ(metadata.at("bnserve.num_batches_tracked.bn2"), "101");
  EXPECT_EQ(metadata.at("bnserve.num_batches_tracked.bn3"), "102");
  EXPECT_EQ(metadata.size(), 5u);
}

TEST(OnnxExportTest, ReExportOverwritesMetadataInPlace) {
  auto original = LoadBytes(ThreeLayerModel());
  ASSERT_TRUE(original.ok()) << original.status();
  auto first = ExportOnnxWithStats(*original->onnx.proto, original->layers, NewStats(original->layers, 2), "");
  ASSERT_TRUE(first.ok()) << first.status();
  auto exported = LoadBytes(*first);
  ASSERT_TRUE(exported.ok()) << exported.status();
  StatsSnapshot third = NewStats(exported->layers, 3);
  third.layers[1].num_batches_tracked = 7;
  auto second = ExportOnnxWithStats(*exported->onnx.proto, exported->layers, third, "");
  ASSERT_TRUE(second.ok()) << second.status();
  onnx::ModelProto model;
  ASSERT_TRUE(model.ParseFromString(*second));
  EXPECT_EQ(model.metadata_props_size(), 5);
  const auto metadata = Metadata(model);
  EXPECT_EQ(metadata.at("bnserve.stats_version"), "3");
  EXPECT_EQ(metadata.at("bnserve.num_batches_tracked.bn2"), "7");
}

TEST(OnnxExportTest, StatisticsInConstantNodesKeepTheirForm) {
  OnnxBuilder b(13);
  b.Input("x", {"N", 3})
      .Output("y", {"N", 3})
      .Initializer("g", {3}, {1, 2, 3})
      .Initializer("b", {3}, {0, 0, 0})
      .Constant("mean", FloatTensor("", {3}, {5, 5, 5}), "mean_const")
      .Node("Constant", {}, {"var"}, "var_const")
      .AttrFloats("value_floats", {2, 2, 2})
      .Node("BatchNormalization", {"x", "g", "b", "mean", "var"}, {"y"}, "bn");
  auto original = LoadBytes(b.Bytes());
  ASSERT_TRUE(original.ok()) << original.status();
  const StatsSnapshot stats = NewStats(original->layers, 2);
  auto bytes = ExportOnnxWithStats(*original->onnx.proto, original->layers, stats, "");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto reloaded = LoadBytes(*bytes);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ(reloaded->snapshot.layers[0].mean, RoundToFloat(stats.layers[0].mean));
  EXPECT_EQ(reloaded->snapshot.layers[0].var, RoundToFloat(stats.layers[0].var));
  const onnx::GraphProto& g = reloaded->onnx.proto->graph();
  ASSERT_EQ(g.node_size(), 3);
  EXPECT_EQ(g.node(0).attribute(0).name(), "value");
  EXPECT_EQ(g.node(0).attribute(0).t().data_type(), onnx::TensorProto::FLOAT);
  EXPECT_EQ(g.node(1).attribute(0).name(), "value_floats");
  EXPECT_EQ(g.initializer_size(), 2);
}

TEST(OnnxExportTest, DeduplicatedStatisticsGetTheirOwnConstant) {
  // torch.onnx's form of a fresh BN: running_var = Identity(weight),
  // running_mean = Identity(bias). Writing the statistics must not touch
  // weight and bias.
  OnnxBuilder b(13);
  b.Input("x", {"N", 3})
      .Output("y", {"N", 3})
      .Initializer("bn.weight", {3}, {1, 1, 1})
      .Initializer("bn.bias", {3}, {0, 0, 0})
      .Node("Identity", {"bn.weight"}, {"bn.running_var"}, "Identity_0")
      .Node("Identity", {"bn.bias"}, {"bn.running_mean"}, "Identity_1")
      .Node("BatchNormalization", {"x", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"}, {"y"}, "bn");
  auto original = LoadBytes(b.Bytes());
  ASSERT_TRUE(original.ok()) << original.status();
  const StatsSnapshot stats = NewStats(original->layers, 2);
  auto bytes = ExportOnnxWithStats(*original->onnx.proto, original->layers, stats, "");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto reloaded = LoadBytes(*bytes);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ(reloaded->snapshot.layers[0].mean, RoundToFloat(stats.layers[0].mean));
  EXPECT_EQ(reloaded->snapshot.layers[0].var, RoundToFloat(stats.layers[0].var));
  EXPECT_THAT(reloaded->layers[0].gamma, ElementsAre(1.0, 1.0, 1.0));
  EXPECT_THAT(reloaded->layers[0].beta, ElementsAre(0.0, 0.0, 0.0));
  const onnx::GraphProto& g = reloaded->onnx.proto->graph();
  ASSERT_EQ(g.node_size(), 3);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(g.node(i).op_type(), "Constant");
    EXPECT_EQ(g.node(i).input_size(), 0);
    EXPECT_EQ(g.node(i).attribute(0).t().data_type(), onnx::TensorProto::FLOAT);
  }
  EXPECT_EQ(g.node(0).name(), "Identity_0");  // node names are kept
}

TEST(OnnxExportTest, ValuesReadThroughIdentityFromAStatisticKeepTheirValue) {
  // The other direction of deduplication: the statistic is the initializer
  // and the weight is the Identity (bn.weight = Identity(bn.running_var)).
  OnnxBuilder b(13);
  b.Input("x", {"N", 3})
      .Output("y", {"N", 3})
      .Initializer("bn.running_var", {3}, {1, 1, 1})
      .Initializer("bn.running_mean", {3}, {0.5f, 0.5f, 0.5f})
      .Initializer("bn.bias", {3}, {0, 0, 0})
      .Node("Identity", {"bn.running_var"}, {"bn.weight"}, "Identity_0")
      .Node("BatchNormalization", {"x", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"}, {"y"}, "bn");
  auto original = LoadBytes(b.Bytes());
  ASSERT_TRUE(original.ok()) << original.status();
  const StatsSnapshot stats = NewStats(original->layers, 2);
  auto bytes = ExportOnnxWithStats(*original->onnx.proto, original->layers, stats, "");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto reloaded = LoadBytes(*bytes);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ(reloaded->snapshot.layers[0].var, RoundToFloat(stats.layers[0].var));
  EXPECT_THAT(reloaded->layers[0].gamma, ElementsAre(1.0, 1.0, 1.0));
  EXPECT_EQ(reloaded->onnx.proto->graph().node(0).op_type(), "Constant");
}

TEST(OnnxExportTest, LayersDeduplicatedAgainstEachOtherGetSeparateValues) {
  // Two BNs with reset statistics: torch keeps bn1's and re-creates bn2's
  // with Identity nodes.
  OnnxBuilder b(13);
  b.Input("x", {"N", 3}).Output("y", {"N", 3});
  b.BatchNorm("bn1", "x", "h", {2, 2, 2}, {1, 1, 1}, {0, 0, 0}, {1, 1, 1});
  b.Initializer("bn2.weight", {3}, {3, 3, 3}).Initializer("bn2.bias", {3}, {4, 4, 4});
  b.Node("Identity", {"bn1.running_mean"}, {"bn2.running_mean"}, "Identity_0");
  b.Node("Identity", {"bn1.running_var"}, {"bn2.running_var"}, "Identity_1");
  b.Node("BatchNormalization", {"h", "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var"}, {"y"}, "bn2");
  auto original = LoadBytes(b.Bytes());
  ASSERT_TRUE(original.ok()) << original.status();
  ASSERT_EQ(original->layers.size(), 2u);
  const StatsSnapshot stats = NewStats(original->layers, 2);
  auto bytes = ExportOnnxWithStats(*original->onnx.proto, original->layers, stats, "");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto reloaded = LoadBytes(*bytes);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  for (size_t l = 0; l < 2; ++l) {
    EXPECT_EQ(reloaded->snapshot.layers[l].mean, RoundToFloat(stats.layers[l].mean)) << "layer " << l;
    EXPECT_EQ(reloaded->snapshot.layers[l].var, RoundToFloat(stats.layers[l].var)) << "layer " << l;
  }
}

TEST(OnnxExportTest, Float16StatisticsStayFloat16) {
  OnnxBuilder b(15);
  b.Input("x", {"N", 3})
      .Output("y", {"N", 3})
      .Initializer("g", {3}, {1, 1, 1})
      .Initializer("b", {3}, {0, 0, 0})
      .Initializer(Float16Tensor("m", {3}, {0, 0, 0}))
      .Initializer(Float16Tensor("v", {3}, {0x3C00, 0x3C00, 0x3C00}, TensorEncoding::kTyped))
      .Node("BatchNormalization", {"x", "g", "b", "m", "v"}, {"y"}, "bn");
  auto original = LoadBytes(b.Bytes());
  ASSERT_TRUE(original.ok()) << original.status();
  StatsSnapshot stats = NewStats(original->layers, 2);
  stats.layers[0].mean = {0.1, -2.0, 1.0 / 3.0};
  stats.layers[0].var = {65504.0, 5.960464477539063e-08, 0.5};
  auto bytes = ExportOnnxWithStats(*original->onnx.proto, original->layers, stats, "");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto reloaded = LoadBytes(*bytes);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  // Nearest float16 values (numpy.float16): 0.1 -> 0x2E66, 1/3 -> 0x3555.
  EXPECT_THAT(reloaded->snapshot.layers[0].mean, ElementsAre(0.0999755859375, -2.0, 0.333251953125));
  EXPECT_THAT(reloaded->snapshot.layers[0].var, ElementsAre(65504.0, 5.960464477539063e-08, 0.5));
  const onnx::TensorProto* v = FindInitializerProto(*reloaded->onnx.proto, "v");
  EXPECT_EQ(v->data_type(), onnx::TensorProto::FLOAT16);
  EXPECT_EQ(v->int32_data_size(), 0);
  EXPECT_EQ(v->raw_data().size(), 6u);

  stats.layers[0].var[0] = 70000.0;  // beyond float16
  auto too_big = ExportOnnxWithStats(*original->onnx.proto, original->layers, stats, "");
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kFailedPrecondition) << too_big.status();
  EXPECT_THAT(std::string(too_big.status().message()), HasSubstr("running var 'v'"));
}

TEST(OnnxExportTest, InvalidSnapshotsRejected) {
  auto original = LoadBytes(ThreeLayerModel());
  ASSERT_TRUE(original.ok()) << original.status();
  StatsSnapshot nan_mean = NewStats(original->layers, 2);
  nan_mean.layers[1].mean[3] = std::nan("");
  auto status = ExportOnnxWithStats(*original->onnx.proto, original->layers, nan_mean, "").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("bn2"));

  StatsSnapshot missing_layer = NewStats(original->layers, 2);
  missing_layer.layers.pop_back();
  status = ExportOnnxWithStats(*original->onnx.proto, original->layers, missing_layer, "").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;

  StatsSnapshot huge = NewStats(original->layers, 2);
  huge.layers[0].var[0] = 1e300;  // finite double, not a float32
  status = ExportOnnxWithStats(*original->onnx.proto, original->layers, huge, "").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("bn1.running_var"));
}

TEST(OnnxExportTest, LayersOfAnotherModelRejected) {
  auto original = LoadBytes(ThreeLayerModel());
  ASSERT_TRUE(original.ok()) << original.status();
  std::vector<BnLayerInfo> layers = original->layers;
  layers[0].mean_name = "not_in_this_model";
  auto status = ExportOnnxWithStats(*original->onnx.proto, layers, NewStats(layers, 2), "").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("not_in_this_model"));
}

TEST(OnnxExportTest, ExternalDataIsInlined) {
  const std::string dir = MakeTestDir("export_external");
  const std::string out_dir = MakeTestDir("export_external_out");
  // Every initializer external, in one file, plus a Constant node's tensor.
  onnx::ModelProto model;
  ASSERT_TRUE(model.ParseFromString(ThreeLayerModel()));
  std::string data;
  for (onnx::TensorProto& t : *model.mutable_graph()->mutable_initializer()) {
    if (t.raw_data().empty()) continue;  // typed-field tensors stay inline
    data += MoveToExternal("data/weights.bin", static_cast<int64_t>(data.size()), &t);
  }
  onnx::NodeProto* constant = model.mutable_graph()->add_node();
  constant->set_op_type("Constant");
  constant->add_output("unused_const");
  onnx::AttributeProto* value = constant->add_attribute();
  value->set_name("value");
  value->set_type(onnx::AttributeProto::TENSOR);
  *value->mutable_t() = FloatTensor("unused_const", {2}, {8, 9});
  data += MoveToExternal("data/weights.bin", static_cast<int64_t>(data.size()), value->mutable_t());
  std::filesystem::create_directories(dir + "/data");
  WriteTestFile(dir + "/data/weights.bin", data);
  WriteTestFile(dir + "/model.onnx", model.SerializeAsString());

  auto loaded = LoadOnnxFile(dir + "/model.onnx");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto layers = DiscoverBnLayers(loaded->graph);
  ASSERT_TRUE(layers.ok()) << layers.status();
  const StatsSnapshot stats = NewStats(*layers, 9);
  auto bytes = ExportOnnxWithStats(*loaded->proto, *layers, stats, dir);
  ASSERT_TRUE(bytes.ok()) << bytes.status();

  // The export must load on its own, in a directory without the data file.
  WriteTestFile(out_dir + "/exported.onnx", *bytes);
  auto reloaded = LoadOnnxFile(out_dir + "/exported.onnx");
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  for (const onnx::TensorProto& t : reloaded->proto->graph().initializer()) {
    EXPECT_NE(t.data_location(), onnx::TensorProto::EXTERNAL) << t.name();
    EXPECT_EQ(t.external_data_size(), 0) << t.name();
  }
  EXPECT_EQ(reloaded->graph.FindInitializer("fc.weight")->floats, loaded->graph.FindInitializer("fc.weight")->floats);
  EXPECT_THAT(reloaded->graph.FindInitializer("unused_const")->floats, ElementsAre(8.0f, 9.0f));
  auto snapshot = SnapshotFromGraph(reloaded->graph, *layers);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  for (size_t l = 0; l < layers->size(); ++l) {
    EXPECT_EQ(snapshot->layers[l].mean, RoundToFloat(stats.layers[l].mean)) << "layer " << l;
    EXPECT_EQ(snapshot->layers[l].var, RoundToFloat(stats.layers[l].var)) << "layer " << l;
  }

  // Without the right base_dir the external data cannot be inlined.
  auto wrong_dir = ExportOnnxWithStats(*loaded->proto, *layers, stats, out_dir);
  EXPECT_EQ(wrong_dir.status().code(), absl::StatusCode::kNotFound) << wrong_dir.status();
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(out_dir);
}

TEST(OnnxExportTest, PyTorchExportedModelRoundTrip) {
  auto loaded = LoadOnnxFile(FixturePath("loader/tiny.onnx"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto layers = DiscoverBnLayers(loaded->graph);
  ASSERT_TRUE(layers.ok()) << layers.status();
  StatsSnapshot stats = NewStats(*layers, 2);
  stats.layers[0].num_batches_tracked = 42;
  auto bytes = ExportOnnxWithStats(*loaded->proto, *layers, stats, FixturePath("loader"));
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto reloaded = LoadBytes(*bytes);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ(reloaded->layers[0].name, "/bn/BatchNormalization");
  EXPECT_EQ(reloaded->snapshot.layers[0].mean, RoundToFloat(stats.layers[0].mean));
  EXPECT_EQ(reloaded->snapshot.layers[0].var, RoundToFloat(stats.layers[0].var));
  EXPECT_EQ(Metadata(*reloaded->onnx.proto).at("bnserve.num_batches_tracked./bn/BatchNormalization"), "42");
}

TEST(OnnxExportTest, PyTorchExportWithDeduplicatedStatisticsRoundTrip) {
  // bn2.weight = Identity(bn1.running_var) and bn1.running_mean =
  // Identity(bn1.bias) in this file: new statistics must leave every gamma
  // and beta as they were.
  const nlohmann::json expected = testing::LoadJsonFixture("loader/tiny_dedup_expected.json");
  auto loaded = LoadOnnxFile(FixturePath("loader/tiny_dedup.onnx"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto layers = DiscoverBnLayers(loaded->graph);
  ASSERT_TRUE(layers.ok()) << layers.status();
  const StatsSnapshot stats = NewStats(*layers, 2);
  auto bytes = ExportOnnxWithStats(*loaded->proto, *layers, stats, FixturePath("loader"));
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto reloaded = LoadBytes(*bytes);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  ASSERT_EQ(reloaded->layers.size(), 3u);
  for (size_t l = 0; l < 3; ++l) {
    const nlohmann::json& want = expected["layers"][l];
    const std::string& name = reloaded->layers[l].name;
    EXPECT_EQ(reloaded->layers[l].gamma, want["gamma"].get<std::vector<double>>()) << name;
    EXPECT_EQ(reloaded->layers[l].beta, want["beta"].get<std::vector<double>>()) << name;
    EXPECT_EQ(reloaded->snapshot.layers[l].mean, RoundToFloat(stats.layers[l].mean)) << name;
    EXPECT_EQ(reloaded->snapshot.layers[l].var, RoundToFloat(stats.layers[l].var)) << name;
  }
  EXPECT_EQ(reloaded->onnx.graph.FindInitializer("fc.weight")->floats,
            loaded->graph.FindInitializer("fc.weight")->floats);
}

}  // namespace
}  // namespace bnserve
