// The gRPC-free pieces of server/ on their own: status mapping and its
// message cap, the response-size check, tensor decoding/encoding and the
// worker pool.
#include <atomic>
#include <cstring>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/call_util.h"
#include "server/status_util.h"
#include "server/tensor_codec.h"
#include "server/worker_pool.h"
#include "tests/server/server_test_util.h"

namespace bnserve::testing {
namespace {

using ::testing::HasSubstr;

TEST(StatusUtilTest, CodesMapOneToOneAndMessagesAreCapped) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  const std::pair<absl::Status, grpc::StatusCode> cases[] = {
      {absl::InvalidArgumentError("a"), grpc::StatusCode::INVALID_ARGUMENT},
      {absl::NotFoundError("b"), grpc::StatusCode::NOT_FOUND},
      {absl::FailedPreconditionError("c"), grpc::StatusCode::FAILED_PRECONDITION},
      {absl::AbortedError("d"), grpc::StatusCode::ABORTED},
      {absl::ResourceExhaustedError("e"), grpc::StatusCode::RESOURCE_EXHAUSTED},
      {absl::UnavailableError("f"), grpc::StatusCode::UNAVAILABLE},
      {absl::UnimplementedError("g"), grpc::StatusCode::UNIMPLEMENTED},
      {absl::DataLossError("h"), grpc::StatusCode::DATA_LOSS},
      {absl::AlreadyExistsError("i"), grpc::StatusCode::ALREADY_EXISTS},
      {absl::UnauthenticatedError("j"), grpc::StatusCode::UNAUTHENTICATED},
  };
  for (const auto& [status, code] : cases) {
    const grpc::Status converted = ToGrpcStatus(status);
    EXPECT_EQ(converted.error_code(), code) << status;
    EXPECT_EQ(converted.error_message(), std::string(status.message()));
  }
  const grpc::Status long_one = ToGrpcStatus(absl::InvalidArgumentError(std::string(10000, 'x')));
  EXPECT_EQ(long_one.error_message().size(), kMaxErrorMessageBytes);
  EXPECT_THAT(long_one.error_message(), ::testing::EndsWith("... (truncated)"));
}

TEST(CallUtilTest, ResponseSizeCheckNamesTheLimit) {
  ServiceLimits limits;
  limits.max_message_bytes = 1000;
  EXPECT_TRUE(CheckResponseSize(1000, limits).ok());
  const absl::Status status = CheckResponseSize(1001, limits);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(status.message(), HasSubstr("response of 1001 bytes exceeds the server's message limit of 1000"));
}

TEST(TensorCodecTest, RawBytesAndValuesDecodeToTheSameFloats) {
  // Odd sizes, and a raw buffer starting at an odd address inside a larger
  // string, so nothing relies on alignment.
  const std::vector<float> values = GridValues(3 * 7, 61);
  const v1::Tensor packed = MakeTensor({3, 7}, values);
  std::string padded(1 + values.size() * 4, '\0');
  std::memcpy(&padded[1], values.data(), values.size() * 4);
  v1::Tensor raw;
  raw.add_shape(3);
  raw.add_shape(7);
  raw.set_raw_float32_le(padded.substr(1));
  DecodedTensors decoded;
  ASSERT_TRUE(DecodeTensor(packed, "x", &decoded).ok());
  ASSERT_TRUE(DecodeTensor(raw, "y", &decoded).ok());
  ASSERT_EQ(decoded.views.size(), 2u);
  for (const TensorView& view : decoded.views) {
    EXPECT_EQ(view.shape, (Shape{3, 7}));
    EXPECT_EQ(std::vector<float>(view.data, view.data + view.size()), values);
  }
  // Packed values are viewed in place, not copied, and so are raw bytes on
  // a little-endian host (protobuf's heap buffers are float-aligned).
  EXPECT_EQ(decoded.views[0].data, packed.values().data());
  if (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) {
    EXPECT_EQ(static_cast<const void*>(decoded.views[1].data), static_cast<const void*>(raw.raw_float32_le().data()));
  }

  for (auto encoding : {v1::TENSOR_ENCODING_VALUES, v1::TENSOR_ENCODING_RAW_FLOAT32_LE}) {
    v1::Tensor encoded;
    EncodeTensor("out", decoded.views[1], encoding, &encoded);
    EXPECT_EQ(encoded.name(), "out");
    EXPECT_THAT(encoded.shape(), ::testing::ElementsAre(3, 7));
    EXPECT_EQ(TensorValues(encoded), values);
    EXPECT_EQ(encoded.raw_float32_le().empty(), encoding == v1::TENSOR_ENCODING_VALUES);
  }
}

TEST(TensorCodecTest, ScalarsEmptyTensorsAndErrors) {
  DecodedTensors decoded;
  const v1::Tensor scalar = MakeTensor({}, {2.5f});  // views point into it
  ASSERT_TRUE(DecodeTensor(scalar, "scalar", &decoded).ok());
  EXPECT_EQ(decoded.views[0].shape.rank(), 0);
  EXPECT_EQ(decoded.views[0].data[0], 2.5f);
  ASSERT_TRUE(DecodeTensor(MakeTensor({0, 5}, {}), "empty", &decoded).ok());
  EXPECT_EQ(decoded.views[1].size(), 0);

  const absl::Status too_many_dims = DecodeTensor(MakeTensor({1, 1, 1, 1, 1, 1, 1, 1, 1}, {1.0f}), "t", &decoded);
  EXPECT_EQ(too_many_dims.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(too_many_dims.message(), HasSubstr("t.shape"));
  const absl::Status huge = DecodeTensor(MakeTensor({1 << 30, 1 << 30}, {}), "t", &decoded);
  EXPECT_EQ(huge.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(decoded.views.size(), 2u);  // failures append nothing

  google::protobuf::RepeatedPtrField<v1::Tensor> tensors;
  *tensors.Add() = MakeTensor({2}, {1.0f, 2.0f});
  *tensors.Add() = MakeTensor({2}, {1.0f});
  const absl::Status second = DecodeTensors(tensors, "batch.inputs", &decoded);
  EXPECT_EQ(second.message(), "batch.inputs[1].values: expected 2 values for shape [2], got 1");
}

TEST(TensorCodecTest, ResponseEncodingFollowsTheRequestUnlessChosen) {
  google::protobuf::RepeatedPtrField<v1::Tensor> inputs;
  *inputs.Add() = MakeTensor({1}, {1.0f}, /*raw=*/true);
  EXPECT_EQ(ResolveEncoding(v1::TENSOR_ENCODING_UNSPECIFIED, inputs), v1::TENSOR_ENCODING_RAW_FLOAT32_LE);
  EXPECT_EQ(ResolveEncoding(v1::TENSOR_ENCODING_VALUES, inputs), v1::TENSOR_ENCODING_VALUES);
  *inputs.Mutable(0) = MakeTensor({1}, {1.0f});
  EXPECT_EQ(ResolveEncoding(v1::TENSOR_ENCODING_UNSPECIFIED, inputs), v1::TENSOR_ENCODING_VALUES);
}

TEST(WorkerPoolTest, RunsEveryTaskIncludingThoseQueuedAtDestruction) {
  std::atomic<int> ran{0};
  {
    WorkerPool pool(3);
    for (int i = 0; i < 1000; ++i) pool.Submit([&ran] { ran.fetch_add(1); });
  }
  EXPECT_EQ(ran.load(), 1000);
}

}  // namespace
}  // namespace bnserve::testing
