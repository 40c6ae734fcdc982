#include "core/graph/onnx_loader.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

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
using ::bnserve::testing::IntTensor;
using ::bnserve::testing::MakeTestDir;
using ::bnserve::testing::MoveToExternal;
using ::bnserve::testing::OnnxBuilder;
using ::bnserve::testing::TensorEncoding;
using ::bnserve::testing::WriteTestFile;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

void ExpectError(const absl::Status& status, absl::StatusCode code, const std::vector<std::string>& fragments) {
  EXPECT_EQ(status.code(), code) << status;
  for (const std::string& f : fragments) EXPECT_THAT(std::string(status.message()), HasSubstr(f));
}

// y = Relu(x), x: [batch, 3].
OnnxBuilder ReluModel(int64_t opset = 13) {
  OnnxBuilder b(opset);
  b.Input("x", {"batch", 3}).Output("y", {"batch", 3}).Node("Relu", {"x"}, {"y"}, "relu");
  return b;
}

// Relu model plus `tensor` as an initializer (consumed by nothing; the loader
// does not care).
absl::StatusOr<LoadedOnnx> ParseWithInitializer(onnx::TensorProto tensor) {
  return ParseOnnxModel(ReluModel().Initializer(std::move(tensor)).Bytes(), "");
}

std::vector<std::string> NodeNames(const Graph& g) {
  std::vector<std::string> names;
  for (const Node& n : g.nodes) names.push_back(n.name);
  return names;
}

TEST(OnnxLoaderTest, ParsesGraphStructure) {
  auto loaded = ParseOnnxModel(ReluModel(13).Bytes(), "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const Graph& g = loaded->graph;
  EXPECT_EQ(g.opset, 13);
  EXPECT_EQ(g.producer, "onnx_builder 1");
  ASSERT_EQ(g.inputs.size(), 1u);
  EXPECT_EQ(g.inputs[0].name, "x");
  ASSERT_EQ(g.inputs[0].dims.size(), 2u);
  EXPECT_TRUE(g.inputs[0].dims[0].symbolic());
  EXPECT_EQ(g.inputs[0].dims[0].param, "batch");
  EXPECT_FALSE(g.inputs[0].dims[1].symbolic());
  EXPECT_EQ(g.inputs[0].dims[1].size, 3);
  ASSERT_EQ(g.outputs.size(), 1u);
  EXPECT_EQ(g.outputs[0].name, "y");
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].name, "relu");
  EXPECT_FALSE(g.nodes[0].name_derived);
  EXPECT_EQ(g.nodes[0].op_type, "Relu");
  EXPECT_THAT(g.nodes[0].inputs, ElementsAre("x"));
  EXPECT_THAT(g.nodes[0].outputs, ElementsAre("y"));
  ASSERT_NE(loaded->proto, nullptr);
  EXPECT_EQ(loaded->proto->graph().node_size(), 1);
}

TEST(OnnxLoaderTest, UnknownDimIsSymbolicWithoutParam) {
  OnnxBuilder b(13);
  b.Input("x", {"", 3}).Output("y", {-1, 3}).Node("Relu", {"x"}, {"y"});
  auto loaded = ParseOnnxModel(b.Bytes(), "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->graph.inputs[0].dims[0].symbolic());
  EXPECT_EQ(loaded->graph.inputs[0].dims[0].param, "");
  EXPECT_TRUE(loaded->graph.outputs[0].dims[0].symbolic());
}

TEST(OnnxLoaderTest, FloatInitializersRawAndTypedAgree) {
  // Odd length, a negative zero, a subnormal and values that are not short decimals.
  const std::vector<float> values = {1.1f, -0.0f, 3e-39f, -123456.789f, 1.0f / 3.0f, 7.0f, -2.5e10f};
  for (TensorEncoding encoding : {TensorEncoding::kRaw, TensorEncoding::kTyped}) {
    auto loaded = ParseWithInitializer(FloatTensor("w", {7}, values, encoding));
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    const ConstantTensor* w = loaded->graph.FindInitializer("w");
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->dtype, DataType::kFloat);
    EXPECT_EQ(w->shape, Shape({7}));
    ASSERT_EQ(w->floats.size(), values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      EXPECT_EQ(std::memcmp(&w->floats[i], &values[i], 4), 0)
          << "element " << i << " encoding " << static_cast<int>(encoding);
    }
  }
}

TEST(OnnxLoaderTest, MultiDimensionalAndScalarInitializers) {
  std::vector<float> values(2 * 3 * 5);
  for (size_t i = 0; i < values.size(); ++i) values[i] = 0.25f * static_cast<float>(i) - 3.0f;
  auto loaded =
      ParseOnnxModel(ReluModel().Initializer("w", {2, 3, 5}, values).Initializer("s", {}, {4.5f}).Bytes(), "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const ConstantTensor* w = loaded->graph.FindInitializer("w");
  EXPECT_EQ(w->shape, Shape({2, 3, 5}));
  EXPECT_EQ(w->floats, values);
  const ConstantTensor* s = loaded->graph.FindInitializer("s");
  EXPECT_EQ(s->shape.rank(), 0);
  EXPECT_THAT(s->floats, ElementsAre(4.5f));
}

TEST(OnnxLoaderTest, DoubleInitializersConvertToFloat) {
  const std::vector<double> values = {0.1, -1.0 / 3.0, 1e-300, 2.5};
  for (TensorEncoding encoding : {TensorEncoding::kRaw, TensorEncoding::kTyped}) {
    auto loaded = ParseWithInitializer(DoubleTensor("d", {4}, values, encoding));
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    const ConstantTensor* d = loaded->graph.FindInitializer("d");
    EXPECT_EQ(d->dtype, DataType::kFloat);
    EXPECT_THAT(d->floats, ElementsAre(static_cast<float>(0.1), static_cast<float>(-1.0 / 3.0), 0.0f, 2.5f));
  }
}

TEST(OnnxLoaderTest, DoubleOutsideFloatRangeRejected) {
  auto loaded = ParseWithInitializer(DoubleTensor("big", {3}, {1.0, -1e300, 2.0}));
  ExpectError(loaded.status(), absl::StatusCode::kInvalidArgument, {"initializer 'big'", "index 1", "float32 range"});
}

TEST(OnnxLoaderTest, Float16InitializersRawAndTyped) {
  // Bit patterns and their values (checked with numpy.float16).
  const std::vector<uint16_t> bits = {0x3C00, 0xC000, 0x3555, 0x7BFF, 0x0001, 0x8000, 0x03FF};
  const std::vector<float> expected = {
      1.0f, -2.0f, 0.333251953125f, 65504.0f, 5.960464477539063e-08f, -0.0f, 6.097555160522461e-05f};
  for (TensorEncoding encoding : {TensorEncoding::kRaw, TensorEncoding::kTyped}) {
    auto loaded = ParseWithInitializer(Float16Tensor("h", {7}, bits, encoding));
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    const ConstantTensor* h = loaded->graph.FindInitializer("h");
    EXPECT_EQ(h->dtype, DataType::kFloat);
    EXPECT_THAT(h->floats, ElementsAreArray(expected));
    EXPECT_TRUE(std::signbit(h->floats[5]));
  }
}

TEST(OnnxLoaderTest, Float16TypedValueOutOfRangeIsDataLoss) {
  onnx::TensorProto t = Float16Tensor("h", {2}, {0x3C00, 0}, TensorEncoding::kTyped);
  t.set_int32_data(1, 70000);
  ExpectError(ParseWithInitializer(t).status(), absl::StatusCode::kDataLoss, {"initializer 'h'", "70000"});
}

TEST(OnnxLoaderTest, IntegerInitializersBecomeInt64) {
  struct Case {
    int32_t data_type;
    std::vector<int64_t> values;
  };
  const std::vector<Case> cases = {
      {onnx::TensorProto::INT64, {-1, int64_t{1} << 40, 3}},
      {onnx::TensorProto::INT32, {-1, 2147483647, -2147483648LL}},
      {onnx::TensorProto::INT16, {-32768, 7, 32767}},
      {onnx::TensorProto::INT8, {-1, 127, -128}},
      {onnx::TensorProto::UINT16, {65535, 0, 1}},
      {onnx::TensorProto::UINT8, {255, 0, 128}},
      {onnx::TensorProto::BOOL, {1, 0, 1}},
  };
  for (const Case& c : cases) {
    for (TensorEncoding encoding : {TensorEncoding::kRaw, TensorEncoding::kTyped}) {
      auto loaded = ParseWithInitializer(IntTensor("i", {3}, c.values, c.data_type, encoding));
      ASSERT_TRUE(loaded.ok()) << loaded.status();
      const ConstantTensor* t = loaded->graph.FindInitializer("i");
      EXPECT_EQ(t->dtype, DataType::kInt64);
      EXPECT_EQ(t->ints, c.values) << "data type " << c.data_type << " encoding " << static_cast<int>(encoding);
    }
  }
}

TEST(OnnxLoaderTest, RawDataOfWrongLengthIsDataLoss) {
  onnx::TensorProto t = FloatTensor("w", {3}, {1, 2, 3});
  t.mutable_raw_data()->resize(8);
  ExpectError(ParseWithInitializer(t).status(), absl::StatusCode::kDataLoss,
              {"initializer 'w'", "raw_data has 8 bytes, expected 12"});
}

TEST(OnnxLoaderTest, TypedFieldOfWrongCountIsDataLoss) {
  onnx::TensorProto t = FloatTensor("w", {2, 2}, {1, 2, 3}, TensorEncoding::kTyped);
  ExpectError(ParseWithInitializer(t).status(), absl::StatusCode::kDataLoss,
              {"initializer 'w'", "float_data has 3 values, expected 4"});
  onnx::TensorProto i = IntTensor("i", {2}, {1, 2, 3}, onnx::TensorProto::INT64, TensorEncoding::kTyped);
  ExpectError(ParseWithInitializer(i).status(), absl::StatusCode::kDataLoss, {"initializer 'i'", "int64_data"});
}

TEST(OnnxLoaderTest, NegativeOrHugeDimsAreDataLoss) {
  ExpectError(ParseWithInitializer(FloatTensor("w", {2, -3}, {})).status(), absl::StatusCode::kDataLoss,
              {"initializer 'w'", "-3"});
  ExpectError(ParseWithInitializer(FloatTensor("w", {int64_t{1} << 40, int64_t{1} << 40}, {})).status(),
              absl::StatusCode::kDataLoss, {"initializer 'w'"});
}

TEST(OnnxLoaderTest, BothRawAndTypedDataIsDataLoss) {
  onnx::TensorProto t = FloatTensor("w", {2}, {1, 2});
  t.add_float_data(1);
  t.add_float_data(2);
  ExpectError(ParseWithInitializer(t).status(), absl::StatusCode::kDataLoss, {"initializer 'w'", "both raw_data"});
}

TEST(OnnxLoaderTest, TensorWithoutDataIsDataLoss) {
  ExpectError(ParseWithInitializer(FloatTensor("w", {5}, {})).status(), absl::StatusCode::kDataLoss,
              {"initializer 'w'", "holds no data", "5 FLOAT values"});
  // An empty tensor legitimately has no data.
  EXPECT_TRUE(ParseWithInitializer(FloatTensor("e", {0, 4}, {})).ok());
}

TEST(OnnxLoaderTest, UnsupportedDataTypeIsUnimplemented) {
  onnx::TensorProto t;
  t.set_name("names");
  t.set_data_type(onnx::TensorProto::STRING);
  t.add_dims(1);
  t.add_string_data("a");
  ExpectError(ParseWithInitializer(t).status(), absl::StatusCode::kUnimplemented, {"initializer 'names'", "STRING"});
}

TEST(OnnxLoaderTest, EmptyOrDuplicateInitializerNameRejected) {
  ExpectError(ParseWithInitializer(FloatTensor("", {1}, {1})).status(), absl::StatusCode::kInvalidArgument,
              {"empty name"});
  auto dup = ParseOnnxModel(ReluModel().Initializer("w", {1}, {1}).Initializer("w", {1}, {2}).Bytes(), "");
  ExpectError(dup.status(), absl::StatusCode::kInvalidArgument, {"'w'", "defined twice"});
}

// External data: a weights file next to the model, at offsets, including a
// subdirectory.
class ExternalDataTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTestDir("loader_external"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes a model whose initializer "w" (float [3]) lives in `location` at
  // offset 16, and int64 "shape" follows it.
  std::string WriteModel(const std::string& location, bool write_data_file = true, size_t truncate_to = 0) {
    onnx::TensorProto w = FloatTensor("w", {3}, weights_);
    onnx::TensorProto shape = IntTensor("shape", {2}, {-1, 3});
    std::string file(16, 'x');
    file += MoveToExternal(location, 16, &w);
    const int64_t shape_offset = static_cast<int64_t>(file.size());
    file += MoveToExternal(location, shape_offset, &shape);
    if (truncate_to > 0) file.resize(truncate_to);
    if (write_data_file) {
      std::filesystem::create_directories(std::filesystem::path(dir_ + "/" + location).parent_path());
      WriteTestFile(dir_ + "/" + location, file);
    }
    const std::string model_path = dir_ + "/model.onnx";
    WriteTestFile(model_path, ReluModel().Initializer(w).Initializer(shape).Bytes());
    return model_path;
  }

  std::string dir_;
  const std::vector<float> weights_ = {0.5f, -1.25f, 3.0f};
};

TEST_F(ExternalDataTest, ReadsDataRelativeToModelDirectory) {
  for (const std::string location : {"weights.bin", "sub/dir/weights.bin"}) {
    auto loaded = LoadOnnxFile(WriteModel(location));
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(loaded->graph.FindInitializer("w")->floats, weights_) << location;
    EXPECT_THAT(loaded->graph.FindInitializer("shape")->ints, ElementsAre(-1, 3)) << location;
    // The kept proto is the file as parsed: still external.
    EXPECT_EQ(loaded->proto->graph().initializer(0).data_location(), onnx::TensorProto::EXTERNAL);
  }
}

TEST_F(ExternalDataTest, LocationsEscapingTheDirectoryRejected) {
  for (const std::string location : {"../weights.bin", "/etc/passwd", "sub/../../weights.bin", "a\\..\\..\\w"}) {
    onnx::TensorProto w = FloatTensor("w", {3}, weights_);
    MoveToExternal(location, 0, &w);
    auto loaded = ParseOnnxModel(ReluModel().Initializer(w).Bytes(), dir_);
    ExpectError(loaded.status(), absl::StatusCode::kInvalidArgument,
                {"initializer 'w'", location, "escapes the model's directory"});
  }
}

TEST_F(ExternalDataTest, DataFileTooShortIsDataLoss) {
  const std::string model = WriteModel("weights.bin", true, /*truncate_to=*/20);
  ExpectError(LoadOnnxFile(model).status(), absl::StatusCode::kDataLoss,
              {model, "initializer 'w'", dir_ + "/weights.bin", "has 20 bytes, too short for 12 bytes at offset 16"});
  // Long enough for "w" (16 + 12 bytes) but not for "shape" behind it.
  const std::string model2 = WriteModel("weights.bin", true, /*truncate_to=*/35);
  ExpectError(LoadOnnxFile(model2).status(), absl::StatusCode::kDataLoss, {"initializer 'shape'", "has 35 bytes"});
}

TEST_F(ExternalDataTest, MissingDataFileIsNotFound) {
  ExpectError(LoadOnnxFile(WriteModel("nowhere.bin", /*write_data_file=*/false)).status(), absl::StatusCode::kNotFound,
              {"initializer 'w'", "nowhere.bin"});
}

TEST_F(ExternalDataTest, LengthDisagreeingWithDimsIsDataLoss) {
  onnx::TensorProto w = FloatTensor("w", {3}, weights_);
  WriteTestFile(dir_ + "/w.bin", MoveToExternal("w.bin", 0, &w) + "pad");
  w.mutable_external_data(2)->set_value("15");
  ExpectError(ParseOnnxModel(ReluModel().Initializer(w).Bytes(), dir_).status(), absl::StatusCode::kDataLoss,
              {"initializer 'w'", "length is 15 bytes, expected 12"});
}

TEST(OnnxLoaderTest, MissingFileIsNotFoundNamingPath) {
  ExpectError(LoadOnnxFile("/nonexistent/dir/model.onnx").status(), absl::StatusCode::kNotFound,
              {"/nonexistent/dir/model.onnx"});
}

TEST(OnnxLoaderTest, CorruptFileNamesPath) {
  const std::string dir = MakeTestDir("loader_corrupt");
  const std::string path = dir + "/model.onnx";
  WriteTestFile(path, "\xff\xff\xff\xff this is not protobuf");
  ExpectError(LoadOnnxFile(path).status(), absl::StatusCode::kDataLoss,
              {path + ": not a valid ONNX model (protobuf parse failed"});
  std::filesystem::remove_all(dir);
}

// A model with initializers and attributes, so cuts land in all kinds of fields.
std::string RichModelBytes() {
  OnnxBuilder b(15);
  b.Input("x", {"batch", 3})
      .Output("y", {"batch", 3})
      .Initializer("w", {3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9})
      .Node("MatMul", {"x", "w"}, {"xw"}, "matmul")
      .BatchNorm("bn", "xw", "bn_out", {1, 2, 3}, {0, 0.5f, 1}, {0.1f, 0.2f, 0.3f}, {1, 2, 3})
      .AttrFloat("epsilon", 1e-3f)
      .Node("LeakyRelu", {"bn_out"}, {"y"}, "act")
      .AttrFloat("alpha", 0.1f);
  return b.Bytes();
}

TEST(OnnxLoaderTest, EveryTruncationIsAnError) {
  const std::string bytes = RichModelBytes();
  ASSERT_TRUE(ParseOnnxModel(bytes, "").ok());
  // opset_import is the last field written, so no strict prefix is a whole model.
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    auto loaded = ParseOnnxModel(bytes.substr(0, cut), "");
    ASSERT_FALSE(loaded.ok()) << "cut at " << cut << " of " << bytes.size();
    EXPECT_TRUE(loaded.status().code() == absl::StatusCode::kDataLoss ||
                loaded.status().code() == absl::StatusCode::kInvalidArgument)
        << "cut at " << cut << ": " << loaded.status();
  }
}

TEST(OnnxLoaderTest, RandomGarbageIsAnError) {
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 500; ++trial) {
    std::string bytes(rng() % 2048, '\0');
    for (char& c : bytes) c = static_cast<char>(rng() & 0xff);
    auto loaded = ParseOnnxModel(bytes, "");
    EXPECT_FALSE(loaded.ok()) << "trial " << trial << " (" << bytes.size() << " bytes)";
  }
}

TEST(OnnxLoaderTest, FlippedBytesNeverCrash) {
  const std::string original = RichModelBytes();
  std::mt19937 rng(99);
  int rejected = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bytes = original;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f) bytes[rng() % bytes.size()] ^= static_cast<char>(1 + rng() % 255);
    auto loaded = ParseOnnxModel(bytes, "");  // Must return, ok or not.
    if (!loaded.ok()) {
      ++rejected;
      EXPECT_NE(loaded.status().code(), absl::StatusCode::kInternal) << loaded.status();
    }
  }
  EXPECT_GT(rejected, 0);
}

TEST(OnnxLoaderTest, MissingOpsetIsInvalidArgument) {
  OnnxBuilder b = ReluModel();
  b.ClearOpsets();
  ExpectError(ParseOnnxModel(b.Bytes(), "").status(), absl::StatusCode::kInvalidArgument, {"opset_import"});
  b.Opset("com.microsoft", 1);
  ExpectError(ParseOnnxModel(b.Bytes(), "").status(), absl::StatusCode::kInvalidArgument,
              {"default domain", "1 entries for other domains"});
}

TEST(OnnxLoaderTest, AiOnnxDomainOpsetAccepted) {
  OnnxBuilder b = ReluModel();
  b.ClearOpsets().Opset("com.microsoft", 1).Opset("ai.onnx", 11);
  auto loaded = ParseOnnxModel(b.Bytes(), "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->graph.opset, 11);
}

TEST(OnnxLoaderTest, ModelWithoutGraphOrOutputsRejected) {
  onnx::ModelProto model = ReluModel().model();
  model.clear_graph();
  ExpectError(ParseOnnxModel(model.SerializeAsString(), "").status(), absl::StatusCode::kInvalidArgument, {"no graph"});
  model = ReluModel().model();
  model.mutable_graph()->clear_output();
  ExpectError(ParseOnnxModel(model.SerializeAsString(), "").status(), absl::StatusCode::kInvalidArgument,
              {"no outputs"});
}

TEST(OnnxLoaderTest, InitializersListedAsInputsAreNotInputs) {
  // IR version 3 style: every initializer is also a graph input.
  OnnxBuilder b(8);
  b.IrVersion(3)
      .Input("x", {"N", 2})
      .Input("w", {2, 2})
      .Output("y", {"N", 2})
      .Initializer("w", {2, 2}, {1, 0, 0, 1})
      .Node("MatMul", {"x", "w"}, {"y"});
  auto loaded = ParseOnnxModel(b.Bytes(), "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ(loaded->graph.inputs.size(), 1u);
  EXPECT_EQ(loaded->graph.inputs[0].name, "x");
  EXPECT_NE(loaded->graph.FindInitializer("w"), nullptr);
}

TEST(OnnxLoaderTest, ConstantNodesOfEveryFormBecomeInitializers) {
  OnnxBuilder b(13);
  b.Input("x", {"N", 3}).Output("y", {"N", 3});
  b.Constant("c_tensor", FloatTensor("ignored", {1, 3}, {1.5f, -2, 0.25f}), "c0");
  b.Node("Constant", {}, {"c_float"}).AttrFloat("value_float", 0.75f);
  b.Node("Constant", {}, {"c_floats"}).AttrFloats("value_floats", {1, 2, 3});
  b.Node("Constant", {}, {"c_int"}).AttrInt("value_int", -7);
  b.Node("Constant", {}, {"c_ints"}).AttrInts("value_ints", {0, -1});
  b.Node("Constant", {}, {"c_i64"}, "", "ai.onnx").AttrTensor("value", IntTensor("", {2}, {4, 5}));
  b.Node("Add", {"x", "c_tensor"}, {"a"}).Node("Mul", {"a", "c_float"}, {"m"}).Node("Add", {"m", "c_floats"}, {"y"});
  auto loaded = ParseOnnxModel(b.Bytes(), "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const Graph& g = loaded->graph;
  ASSERT_EQ(g.nodes.size(), 3u);
  for (const Node& n : g.nodes) EXPECT_NE(n.op_type, "Constant");

  const ConstantTensor* t = g.FindInitializer("c_tensor");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->shape, Shape({1, 3}));
  EXPECT_THAT(t->floats, ElementsAre(1.5f, -2.0f, 0.25f));
  const ConstantTensor* f = g.FindInitializer("c_float");
  EXPECT_EQ(f->shape.rank(), 0);
  EXPECT_THAT(f->floats, ElementsAre(0.75f));
  const ConstantTensor* fs = g.FindInitializer("c_floats");
  EXPECT_EQ(fs->shape, Shape({3}));
  EXPECT_THAT(fs->floats, ElementsAre(1.0f, 2.0f, 3.0f));
  const ConstantTensor* i = g.FindInitializer("c_int");
  EXPECT_EQ(i->dtype, DataType::kInt64);
  EXPECT_EQ(i->shape.rank(), 0);
  EXPECT_THAT(i->ints, ElementsAre(-7));
  const ConstantTensor* is = g.FindInitializer("c_ints");
  EXPECT_EQ(is->dtype, DataType::kInt64);
  EXPECT_EQ(is->shape, Shape({2}));
  EXPECT_THAT(is->ints, ElementsAre(0, -1));
  EXPECT_THAT(g.FindInitializer("c_i64")->ints, ElementsAre(4, 5));
}

TEST(OnnxLoaderTest, UnsupportedConstantFormsRejected) {
  OnnxBuilder strings = ReluModel();
  strings.Node("Constant", {}, {"s"}, "const_s").AttrString("value_string", "hello");
  ExpectError(ParseOnnxModel(strings.Bytes(), "").status(), absl::StatusCode::kUnimplemented,
              {"Constant node 'const_s'", "value_string"});
  OnnxBuilder two = ReluModel();
  two.Node("Constant", {}, {"c"}, "const_2").AttrFloat("value_float", 1).AttrInt("value_int", 1);
  ExpectError(ParseOnnxModel(two.Bytes(), "").status(), absl::StatusCode::kInvalidArgument,
              {"Constant node 'const_2'", "exactly one value attribute", "got 2"});
  OnnxBuilder none = ReluModel();
  none.Node("Constant", {}, {"c"}, "const_0");
  ExpectError(ParseOnnxModel(none.Bytes(), "").status(), absl::StatusCode::kInvalidArgument,
              {"Constant node 'const_0'", "got 0"});
}

TEST(OnnxLoaderTest, IdentityOfInitializerIsFolded) {
  // torch.onnx's deduplication: bn.running_var = Identity(bn.weight).
  OnnxBuilder b(13);
  b.Input("x", {"N", 2})
      .Output("y", {"N", 2})
      .Output("w_out", {2})
      .Initializer("w", {2}, {1, 1})
      .Node("Identity", {"w"}, {"w_copy"}, "Identity_0")
      .Node("Identity", {"w_copy"}, {"w_copy2"}, "Identity_1")
      .Node("Identity", {"x"}, {"x_copy"}, "Identity_x")
      .Node("Add", {"x_copy", "w_copy2"}, {"y"})
      .Node("Identity", {"w"}, {"w_out"}, "Identity_out");
  auto loaded = ParseOnnxModel(b.Bytes(), "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const Graph& g = loaded->graph;
  EXPECT_THAT(NodeNames(g), ElementsAre("Identity_x", "Add_3", "Identity_out"));
  ASSERT_NE(g.FindInitializer("w_copy2"), nullptr);
  EXPECT_THAT(g.FindInitializer("w_copy2")->floats, ElementsAre(1.0f, 1.0f));
}

TEST(OnnxLoaderTest, AttributesOfEveryKindConverted) {
  OnnxBuilder b = ReluModel();
  b.Node("Custom", {"x"}, {"z"}, "custom", "com.example")
      .AttrInt("i", -3)
      .AttrFloat("f", 0.5f)
      .AttrString("s", "NOTSET")
      .AttrInts("is", {1, 2, 3})
      .AttrFloats("fs", {0.25f, -1})
      .AttrTensor("t", IntTensor("", {2}, {7, 8}));
  // IR version 1 files may leave AttributeProto.type unset.
  onnx::AttributeProto* untyped = b.mutable_model()->mutable_graph()->mutable_node(1)->add_attribute();
  untyped->set_name("legacy");
  untyped->set_f(2.5f);
  auto loaded = ParseOnnxModel(b.Bytes(), "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const Node& n = loaded->graph.nodes[1];
  EXPECT_EQ(n.domain, "com.example");
  EXPECT_EQ(n.FindAttribute("i")->kind, Attribute::Kind::kInt);
  EXPECT_EQ(n.GetInt("i", 0), -3);
  EXPECT_EQ(n.FindAttribute("f")->kind, Attribute::Kind::kFloat);
  EXPECT_EQ(n.GetFloat("f", 0), 0.5f);
  EXPECT_EQ(n.FindAttribute("s")->kind, Attribute::Kind::kString);
  EXPECT_EQ(n.GetString("s", ""), "NOTSET");
  EXPECT_EQ(n.FindAttribute("is")->kind, Attribute::Kind::kInts);
  EXPECT_THAT(n.GetInts("is", {}), ElementsAre(1, 2, 3));
  EXPECT_EQ(n.FindAttribute("fs")->kind, Attribute::Kind::kFloats);
  EXPECT_THAT(n.FindAttribute("fs")->floats, ElementsAre(0.25f, -1.0f));
  ASSERT_EQ(n.FindAttribute("t")->kind, Attribute::Kind::kTensor);
  EXPECT_THAT(n.FindAttribute("t")->tensor->ints, ElementsAre(7, 8));
  EXPECT_EQ(n.FindAttribute("legacy")->kind, Attribute::Kind::kFloat);
  EXPECT_EQ(n.GetFloat("legacy", 0), 2.5f);
}

TEST(OnnxLoaderTest, SubgraphAttributesUnimplemented) {
  onnx::GraphProto branch;
  branch.set_name("then");
  OnnxBuilder b = ReluModel();
  b.Initializer(IntTensor("cond", {}, {1}, onnx::TensorProto::BOOL))
      .Node("If", {"cond"}, {"z"}, "if_node")
      .AttrGraph("then_branch", branch);
  ExpectError(ParseOnnxModel(b.Bytes(), "").status(), absl::StatusCode::kUnimplemented,
              {"If node 'if_node'", "then_branch", "subgraph"});
}

TEST(OnnxLoaderTest, UnsupportedAttributeTypeUnimplemented) {
  OnnxBuilder b = ReluModel();
  b.Node("LSTM", {"x"}, {"z"}, "lstm");
  onnx::AttributeProto* a = b.mutable_model()->mutable_graph()->mutable_node(1)->add_attribute();
  a->set_name("activations");
  a->set_type(onnx::AttributeProto::STRINGS);
  a->add_strings("Sigmoid");
  ExpectError(ParseOnnxModel(b.Bytes(), "").status(), absl::StatusCode::kUnimplemented,
              {"LSTM node 'lstm'", "activations", "STRINGS"});
}

TEST(OnnxLoaderTest, UnnamedAndDuplicateNodeNamesMadeUnique) {
  OnnxBuilder b(13);
  b.Input("x", {"N", 3})
      .Output("y", {"N", 3})
      .Node("Relu", {"x"}, {"a"})           // unnamed, index 0 -> "Relu_0", but the file uses that name below
      .Node("Neg", {"a"}, {"b"}, "Relu_0")  // keeps its own name
      .Node("Abs", {"b"}, {"c"}, "dup")
      .Node("Abs", {"c"}, {"d"}, "dup")  // repeated name
      .Node("Relu", {"d"}, {"y"});       // unnamed, index 4
  auto loaded = ParseOnnxModel(b.Bytes(), "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const Graph& g = loaded->graph;
  EXPECT_THAT(NodeNames(g), ElementsAre("Relu_0_1", "Relu_0", "dup", "dup_1", "Relu_4"));
  std::vector<bool> derived;
  for (const Node& n : g.nodes) derived.push_back(n.name_derived);
  EXPECT_THAT(derived, ElementsAre(true, false, false, true, true));
}

TEST(OnnxLoaderTest, UnsortedNodesAreSortedStably) {
  OnnxBuilder b(13);
  b.Input("x", {"N", 3})
      .Output("y", {"N", 3})
      .Node("Add", {"b", "c"}, {"y"}, "join")
      .Node("Neg", {"a"}, {"c"}, "right")
      .Node("Relu", {"a"}, {"b"}, "left")
      .Node("Abs", {"x"}, {"a"}, "first");
  auto loaded = ParseOnnxModel(b.Bytes(), "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  // Among ready nodes the file's order wins: "right" before "left".
  EXPECT_THAT(NodeNames(loaded->graph), ElementsAre("first", "right", "left", "join"));
}

TEST(OnnxLoaderTest, SortedGraphKeepsItsOrder) {
  OnnxBuilder b(13);
  b.Input("x", {"N", 3}).Output("y", {"N", 3});
  b.Node("Relu", {"x"}, {"p"}, "p").Node("Abs", {"x"}, {"q"}, "q").Node("Neg", {"x"}, {"r"}, "r");
  b.Node("Sum", {"r", "q", "p", "q"}, {"y"}, "sum");
  auto loaded = ParseOnnxModel(b.Bytes(), "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_THAT(NodeNames(loaded->graph), ElementsAre("p", "q", "r", "sum"));
}

TEST(OnnxLoaderTest, CycleRejectedNamingNodeAndInput) {
  OnnxBuilder b(13);
  b.Input("x", {"N", 3})
      .Output("y", {"N", 3})
      .Node("Add", {"x", "c"}, {"a"}, "add")
      .Node("Relu", {"a"}, {"b"}, "relu")
      .Node("Neg", {"b"}, {"c"}, "neg")
      .Node("Abs", {"b"}, {"y"}, "out");
  ExpectError(ParseOnnxModel(b.Bytes(), "").status(), absl::StatusCode::kInvalidArgument,
              {"cycle", "Add node 'add' input 'c'", "Neg node 'neg'"});
}

TEST(OnnxLoaderTest, InputProducedByNobodyRejected) {
  OnnxBuilder b = ReluModel();
  b.Node("Add", {"y", "ghost"}, {"z"}, "adder");
  ExpectError(ParseOnnxModel(b.Bytes(), "").status(), absl::StatusCode::kInvalidArgument,
              {"Add node 'adder' input 'ghost'", "produced by no node"});
}

TEST(OnnxLoaderTest, ValuesDefinedTwiceRejected) {
  OnnxBuilder two_nodes = ReluModel();
  two_nodes.Node("Abs", {"x"}, {"y"}, "abs");
  ExpectError(ParseOnnxModel(two_nodes.Bytes(), "").status(), absl::StatusCode::kInvalidArgument,
              {"'y' is defined twice", "Relu node 'relu'", "Abs node 'abs'"});
  OnnxBuilder shadow_initializer = ReluModel();
  shadow_initializer.Initializer("w", {1}, {1}).Node("Abs", {"x"}, {"w"}, "abs");
  ExpectError(ParseOnnxModel(shadow_initializer.Bytes(), "").status(), absl::StatusCode::kInvalidArgument,
              {"'w' is defined twice", "initializer 'w'"});
  OnnxBuilder shadow_input = ReluModel();
  shadow_input.Node("Constant", {}, {"x"}, "c").AttrFloat("value_float", 1);
  ExpectError(ParseOnnxModel(shadow_input.Bytes(), "").status(), absl::StatusCode::kInvalidArgument,
              {"'x' is defined twice", "graph input 'x'", "Constant node 'c'"});
}

TEST(OnnxLoaderTest, GraphOutputProducedByNobodyRejected) {
  OnnxBuilder b = ReluModel();
  b.Output("orphan", {3});
  ExpectError(ParseOnnxModel(b.Bytes(), "").status(), absl::StatusCode::kInvalidArgument, {"graph output 'orphan'"});
}

TEST(OnnxLoaderTest, UnsupportedOperatorsStillLoad) {
  OnnxBuilder b(13);
  b.Input("x", {"N", 3}).Output("y", {"N", 3}).Node("FancyOp", {"x"}, {"t"}, "fancy", "com.example");
  b.Node("NotAnOnnxOp", {"t"}, {"y"}, "weird", "ai.onnx");
  auto loaded = ParseOnnxModel(b.Bytes(), "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->graph.nodes[0].domain, "com.example");
  EXPECT_EQ(loaded->graph.nodes[1].domain, "");  // "ai.onnx" normalized to the default domain
}

TEST(OnnxLoaderTest, PyTorchExportedModel) {
  const nlohmann::json expected = testing::LoadJsonFixture("loader/tiny_expected.json");
  auto loaded = LoadOnnxFile(FixturePath("loader/tiny.onnx"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const Graph& g = loaded->graph;
  EXPECT_EQ(g.opset, 13);
  EXPECT_THAT(g.producer, HasSubstr("pytorch"));
  ASSERT_EQ(g.inputs.size(), 1u);
  EXPECT_EQ(g.inputs[0].name, "x");
  ASSERT_EQ(g.inputs[0].dims.size(), 2u);
  EXPECT_EQ(g.inputs[0].dims[0].param, "batch");
  EXPECT_EQ(g.inputs[0].dims[1].size, 4);
  EXPECT_THAT(NodeNames(g), ElementsAre("/fc/Gemm", expected["bn_node_name"].get<std::string>(), "/relu/Relu"));
  for (const auto& [name, values] : expected["initializers"].items()) {
    const ConstantTensor* t = g.FindInitializer(name);
    ASSERT_NE(t, nullptr) << name;
    const std::vector<double> want = values.get<std::vector<double>>();
    ASSERT_EQ(t->floats.size(), want.size()) << name;
    for (size_t i = 0; i < want.size(); ++i)
      EXPECT_EQ(static_cast<double>(t->floats[i]), want[i]) << name << "[" << i << "]";
  }
  EXPECT_EQ(g.FindInitializer("fc.weight")->shape, Shape({5, 4}));
}

}  // namespace
}  // namespace bnserve
