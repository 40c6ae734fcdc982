// The loaded Model keeps its protobuf without the weights its graph holds
// (core/graph/onnx_skeleton.h); export restores them. The restored protobuf must be
// the original, bit for bit, whatever the tensors' encodings.
#include "core/graph/onnx_skeleton.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/graph/onnx_loader.h"
#include "core/model/model.h"
#include "gtest/gtest.h"
#include "tests/test_util/onnx_builder.h"

namespace bnserve {
namespace {

using testing::OnnxBuilder;
using testing::TensorEncoding;

// x[batch, 3] -> Add(raw FLOAT) -> Mul(typed FLOAT) -> Add(DOUBLE) -> y,
// including the bit patterns a careless conversion would change.
std::string MixedModel() {
  const float nan_payload = std::numeric_limits<float>::quiet_NaN();
  return OnnxBuilder(15)
      .Input("x", {"batch", 3})
      .Output("y", {"batch", 3})
      .Initializer("a", {3}, {-0.0f, 1e-40f, nan_payload})
      .Initializer("m", {3}, {2.0f, 3.0f, 4.0f}, TensorEncoding::kTyped)
      .Initializer(testing::DoubleTensor("d", {3}, {0.1, 0.2, 0.3}))
      .Node("Add", {"x", "a"}, {"t1"}, "add1")
      .Node("Mul", {"t1", "m"}, {"t2"}, "mul")
      .Node("Add", {"t2", "d"}, {"y"}, "add2")
      .Bytes();
}

TEST(OnnxSkeletonTest, StripsOnlyInlineRawFloatInitializers) {
  auto loaded = ParseOnnxModel(MixedModel(), "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  onnx::ModelProto skeleton = *loaded->proto;
  EXPECT_EQ(StripInitializerPayloads(loaded->graph, &skeleton), std::vector<std::string>{"a"});
  for (const onnx::TensorProto& t : skeleton.graph().initializer()) {
    if (t.name() == "a") EXPECT_TRUE(t.raw_data().empty());
    if (t.name() == "m") EXPECT_EQ(t.float_data_size(), 3);
    if (t.name() == "d") EXPECT_EQ(t.raw_data().size(), 24u);
  }
}

TEST(OnnxSkeletonTest, RestoreGivesBackTheOriginalBytes) {
  const std::string bytes = MixedModel();
  auto loaded = ParseOnnxModel(bytes, "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  onnx::ModelProto skeleton = *loaded->proto;
  const std::vector<std::string> stripped = StripInitializerPayloads(loaded->graph, &skeleton);
  ASSERT_TRUE(RestoreInitializerPayloads(loaded->graph, stripped, &skeleton).ok());
  EXPECT_EQ(skeleton.SerializeAsString(), loaded->proto->SerializeAsString());
}

TEST(OnnxSkeletonTest, ModelRestoresItsProto) {
  const std::string bytes = MixedModel();
  auto model = Model::LoadFromBytes(bytes, "");
  ASSERT_TRUE(model.ok()) << model.status();
  absl::StatusOr<onnx::ModelProto> restored = (*model)->RestoreProto();
  ASSERT_TRUE(restored.ok()) << restored.status();
  onnx::ModelProto original;
  ASSERT_TRUE(original.ParseFromString(bytes));
  EXPECT_EQ(restored->SerializeAsString(), original.SerializeAsString());
}

TEST(OnnxSkeletonTest, RestoreOfAForeignNameIsInternal) {
  auto loaded = ParseOnnxModel(MixedModel(), "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  onnx::ModelProto skeleton = *loaded->proto;
  const absl::Status status = RestoreInitializerPayloads(loaded->graph, {"not_there"}, &skeleton);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_NE(status.message().find("not_there"), std::string::npos) << status;
}

}  // namespace
}  // namespace bnserve
