// Hostile tensor shapes over gRPC: dims in the trillions, negative and zero
// sizes, shape/data length mismatches in both encodings, dims whose product
// overflows int64, Moments axes out of range or repeated, and too many dims.
// Every RPC that takes tensors (Predict, PredictStream, GetBatchStats,
// GetBatchStatsStream, Moments, Recalibrate) must answer INVALID_ARGUMENT
// without allocating what the shape claims: the process's peak resident
// size (server and client share it here) may grow by at most 256 MiB over
// the whole suite, while honouring any single hostile shape would take
// terabytes. Recalibrate with a hostile batch must commit nothing.
#include <cstdint>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/server_test_util.h"

namespace bnserve::testing {
namespace {

constexpr int64_t kMaxPeakGrowthKiB = 256 * 1024;
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

// VmHWM (peak resident set) of this process, in KiB.
int64_t PeakRssKiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

struct HostileTensor {
  std::string what;
  v1::Tensor tensor;
};

v1::Tensor WithShape(const std::vector<int64_t>& shape, int64_t values, bool raw = false) {
  v1::Tensor tensor;
  for (int64_t d : shape) tensor.add_shape(d);
  if (raw) {
    tensor.set_raw_float32_le(std::string(static_cast<size_t>(values) * 4, '\0'));
  } else {
    for (int64_t i = 0; i < values; ++i) tensor.add_values(0.5f);
  }
  return tensor;
}

// Inputs for the mlp fixture (x: [batch, 20]); none is a valid tensor.
std::vector<HostileTensor> HostileInputs() {
  return {
      {"batch of 2^40 with 20 values", WithShape({int64_t{1} << 40, 20}, 20)},
      {"batch of 2^40, raw, 80 bytes", WithShape({int64_t{1} << 40, 20}, 20, true)},
      {"negative batch", WithShape({-1, 20}, 20)},
      {"negative feature dim", WithShape({2, -20}, 40)},
      {"zero feature dim", WithShape({2, 0}, 0)},
      {"one value short", WithShape({2, 20}, 39)},
      {"one value too many", WithShape({2, 20}, 41)},
      {"raw one float short", WithShape({2, 20}, 39, true)},
      {"raw 3 bytes over",
       [] {
         v1::Tensor t = WithShape({2, 20}, 40, true);
         t.mutable_raw_float32_le()->append("abc");
         return t;
       }()},
      {"both encodings",
       [] {
         v1::Tensor t = WithShape({1, 20}, 20);
         t.set_raw_float32_le(std::string(80, '\0'));
         return t;
       }()},
      {"product overflows int64 (2^32 x 2^32 x 20)", WithShape({int64_t{1} << 32, int64_t{1} << 32, 20}, 20)},
      {"INT64_MAX x 20", WithShape({kInt64Max, 20}, 20)},
      {"product wraps around (2^62 x 4 x 20)", WithShape({int64_t{1} << 62, 4, 20}, 20)},
      {"product wraps to 0", WithShape({int64_t{1} << 32, int64_t{1} << 32, 0}, 0)},
      {"64 dims of 2", WithShape(std::vector<int64_t>(64, 2), 20)},
      {"wrong feature count", WithShape({2, 21}, 42)},
  };
}

class HostileShapesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { start_peak_kib_ = PeakRssKiB(); }
  static void TearDownTestSuite() {
    const int64_t growth = PeakRssKiB() - start_peak_kib_;
    EXPECT_LT(growth, kMaxPeakGrowthKiB) << "peak RSS grew by " << growth << " KiB during the suite";
  }
  void SetUp() override {
    repo_.AddModel("mlp", "torch/mlp_bn1d.onnx");
    server_ = std::make_unique<TestServer>(repo_.path());
  }
  void TearDown() override {
    const int64_t growth = PeakRssKiB() - start_peak_kib_;
    EXPECT_LT(growth, kMaxPeakGrowthKiB) << "peak RSS grew by " << growth << " KiB";
  }

  static void ExpectInvalid(const grpc::Status& status, const std::string& what) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << what << ": got " << status.error_code() << " " << status.error_message();
  }

  static int64_t start_peak_kib_;
  TempRepository repo_;
  std::unique_ptr<TestServer> server_;
};

int64_t HostileShapesTest::start_peak_kib_ = 0;

TEST_F(HostileShapesTest, PredictRejectsEveryHostileInput) {
  for (const HostileTensor& input : HostileInputs()) {
    v1::PredictResponse response;
    ExpectInvalid(Predict(server_->stub(), "mlp", input.tensor, &response), input.what);
  }
}

TEST_F(HostileShapesTest, PredictStreamEndsWithInvalidArgument) {
  for (const HostileTensor& input : HostileInputs()) {
    auto context = NewContext();
    auto stream = server_->stub().PredictStream(context.get());
    v1::PredictRequest request;
    request.set_model("mlp");
    *request.add_inputs() = input.tensor;
    stream->Write(request);
    stream->WritesDone();
    v1::PredictResponse response;
    EXPECT_FALSE(stream->Read(&response)) << input.what;
    ExpectInvalid(stream->Finish(), input.what);
  }
}

TEST_F(HostileShapesTest, GetBatchStatsRejectsEveryHostileInput) {
  for (const HostileTensor& input : HostileInputs()) {
    for (v1::ForwardMode mode : {v1::FORWARD_MODE_TRAIN, v1::FORWARD_MODE_EVAL}) {
      v1::GetBatchStatsRequest request;
      request.set_model("mlp");
      request.set_forward_mode(mode);
      *request.add_inputs() = input.tensor;
      v1::GetBatchStatsResponse response;
      ExpectInvalid(server_->stub().GetBatchStats(NewContext().get(), request, &response), input.what);
    }
  }
}

TEST_F(HostileShapesTest, GetBatchStatsStreamRejectsHostileChunks) {
  for (const HostileTensor& input : HostileInputs()) {
    v1::GetBatchStatsResponse response;
    auto context = NewContext();
    auto writer = server_->stub().GetBatchStatsStream(context.get(), &response);
    v1::GetBatchStatsRequest chunk;
    chunk.set_model("mlp");
    *chunk.add_inputs() = WithShape({2, 20}, 40);  // a good first chunk
    writer->Write(chunk);
    chunk.clear_model();
    chunk.clear_inputs();
    *chunk.add_inputs() = input.tensor;
    writer->Write(chunk);
    writer->WritesDone();
    ExpectInvalid(writer->Finish(), input.what);
  }
}

TEST_F(HostileShapesTest, RecalibrateRejectsHostileBatchesAndCommitsNothing) {
  v1::RecalibrationConfig config;
  config.set_model("mlp");
  for (const HostileTensor& input : HostileInputs()) {
    const RecalibrateResult result = Recalibrate(server_->stub(), config, {WithShape({3, 20}, 60), input.tensor});
    ExpectInvalid(result.status, input.what);
  }
  v1::ListVersionsRequest request;
  request.set_model("mlp");
  v1::ListVersionsResponse response;
  ASSERT_TRUE(server_->stub().ListVersions(NewContext().get(), request, &response).ok());
  EXPECT_EQ(response.current_version(), 1);
  EXPECT_EQ(response.versions_size(), 1);
}

TEST_F(HostileShapesTest, MomentsRejectsHostileTensorsAndAxes) {
  struct Case {
    std::string what;
    v1::Tensor x;
    std::vector<int64_t> axes;
  };
  std::vector<Case> cases;
  for (const HostileTensor& input : HostileInputs()) {
    // "wrong feature count" and "zero feature dim" are fine tensors without a model.
    if (input.what == "wrong feature count" || input.what == "zero feature dim") continue;
    cases.push_back({input.what, input.tensor, {0}});
  }
  cases.push_back({"axis 2 of a rank-2 tensor", WithShape({3, 5}, 15), {2}});
  cases.push_back({"axis -3 of a rank-2 tensor", WithShape({3, 5}, 15), {-3}});
  cases.push_back({"axis INT64_MAX", WithShape({3, 5}, 15), {kInt64Max}});
  cases.push_back({"axis INT64_MIN", WithShape({3, 5}, 15), {std::numeric_limits<int64_t>::min()}});
  cases.push_back({"repeated axis (0 and -2)", WithShape({3, 5}, 15), {0, -2}});
  cases.push_back({"rank 9", WithShape(std::vector<int64_t>(9, 1), 1), {0}});
  for (const Case& c : cases) {
    v1::MomentsRequest request;
    *request.mutable_x() = c.x;
    for (int64_t axis : c.axes) request.add_axes(axis);
    v1::MomentsResponse response;
    ExpectInvalid(server_->stub().Moments(NewContext().get(), request, &response), c.what);
  }
}

TEST_F(HostileShapesTest, ServerStillServesAfterwards) {
  for (const HostileTensor& input : HostileInputs()) {
    v1::PredictResponse response;
    (void)Predict(server_->stub(), "mlp", input.tensor, &response);
  }
  v1::PredictResponse response;
  ASSERT_TRUE(Predict(server_->stub(), "mlp", WithShape({2, 20}, 40), &response).ok());
  EXPECT_THAT(response.outputs(0).shape(), ::testing::ElementsAre(2, 5));
}

}  // namespace
}  // namespace bnserve::testing
