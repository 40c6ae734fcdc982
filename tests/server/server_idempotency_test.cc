// Recalibrate's idempotency key (RecalibrationConfig.request_id) over gRPC:
// a retry commits nothing and is answered with the version its first attempt
// made, even when its expected_version has gone stale; a reuse of the key for
// different batches or options (prior strength and alpha included) is
// ALREADY_EXISTS; two concurrent streams with one key commit once; malformed
// keys are INVALID_ARGUMENT naming the field.
#include <chrono>
#include <optional>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/server_test_util.h"

namespace bnserve::testing {
namespace {

using ::testing::HasSubstr;

class IdempotencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_.AddModel("mlp", "torch/mlp_bn1d.onnx");
    server_ = std::make_unique<TestServer>(repo_.path());
  }

  // Two batches of the mlp's 20 features, different for each seed.
  static std::vector<v1::Tensor> Batches(uint32_t seed) {
    return {MakeTensor({6, 20}, GridValues(120, seed)), MakeTensor({5, 20}, GridValues(100, seed + 1))};
  }

  static v1::RecalibrationConfig Config(const std::string& request_id, int64_t expected_version = 0) {
    v1::RecalibrationConfig config;
    config.set_model("mlp");
    config.set_mode(v1::RECALIBRATION_MODE_EMA);
    config.set_expected_version(expected_version);
    config.set_request_id(request_id);
    return config;
  }

  v1::ListVersionsResponse Versions() { return ListVersions(server_->stub(), "mlp"); }

  TempRepository repo_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(IdempotencyTest, ARetryIsAnsweredWithTheFirstCommitEvenWithAStaleExpectedVersion) {
  const RecalibrateResult first = Recalibrate(server_->stub(), Config("job-1", 1), Batches(1));
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  EXPECT_FALSE(first.response.deduplicated());
  EXPECT_EQ(first.response.new_version().version(), 2);
  EXPECT_EQ(first.response.new_version().request_id(), "job-1");

  // Same key, config and batches; expected_version 1 is no longer current
  // because of the first attempt itself.
  const RecalibrateResult retry = Recalibrate(server_->stub(), Config("job-1", 1), Batches(1));
  ASSERT_TRUE(retry.status.ok()) << retry.status.error_message();
  EXPECT_TRUE(retry.response.deduplicated());
  EXPECT_EQ(retry.response.new_version().SerializeAsString(), first.response.new_version().SerializeAsString());
  EXPECT_EQ(retry.response.base_version(), 1);
  EXPECT_EQ(retry.response.batches(), 2);
  EXPECT_EQ(retry.response.samples(), 11);
  EXPECT_EQ(retry.response.layers_size(), 0);

  const v1::ListVersionsResponse versions = Versions();
  ASSERT_EQ(versions.versions_size(), 2);
  EXPECT_EQ(versions.current_version(), 2);
  EXPECT_EQ(versions.versions(1).request_id(), "job-1");

  // A different key still commits, and a stale expected_version without a
  // committed key is still refused.
  const RecalibrateResult other = Recalibrate(server_->stub(), Config("job-2", 1), Batches(1));
  EXPECT_EQ(other.status.error_code(), grpc::StatusCode::ABORTED) << other.status.error_message();
  EXPECT_TRUE(Recalibrate(server_->stub(), Config("job-2"), Batches(1)).status.ok());
  EXPECT_EQ(Versions().current_version(), 3);
}

TEST_F(IdempotencyTest, ReusingAKeyForADifferentRequestIsAlreadyExists) {
  ASSERT_TRUE(Recalibrate(server_->stub(), Config("job-1"), Batches(1)).status.ok());
  const RecalibrateResult other_batches = Recalibrate(server_->stub(), Config("job-1"), Batches(7));
  EXPECT_EQ(other_batches.status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(other_batches.status.error_message(), HasSubstr("request_id 'job-1' was already used by version 2"));
  v1::RecalibrationConfig other_config = Config("job-1");
  other_config.set_momentum(0.5);
  const RecalibrateResult other_momentum = Recalibrate(server_->stub(), other_config, Batches(1));
  EXPECT_EQ(other_momentum.status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Versions().versions_size(), 2);
}

// prior_strength and alpha are part of the request: another value under the
// same key is a different request; leaving them unset is the same request as
// sending the default.
TEST_F(IdempotencyTest, PriorStrengthAndAlphaArePartOfTheRequest) {
  auto adaptation = [](const std::string& request_id, v1::RecalibrationMode mode, std::optional<double> parameter) {
    v1::RecalibrationConfig config = Config(request_id);
    config.set_mode(mode);
    if (parameter && mode == v1::RECALIBRATION_MODE_PRIOR) config.set_prior_strength(*parameter);
    if (parameter && mode == v1::RECALIBRATION_MODE_ALPHA) config.set_alpha(*parameter);
    return config;
  };
  const auto prior = v1::RECALIBRATION_MODE_PRIOR;
  const auto alpha = v1::RECALIBRATION_MODE_ALPHA;
  ASSERT_TRUE(Recalibrate(server_->stub(), adaptation("adapt-1", prior, 4.0), Batches(1)).status.ok());  // 2
  EXPECT_TRUE(Recalibrate(server_->stub(), adaptation("adapt-1", prior, 4.0), Batches(1)).response.deduplicated());
  for (const v1::RecalibrationConfig& other :
       {adaptation("adapt-1", prior, 8.0), adaptation("adapt-1", prior, std::nullopt),
        adaptation("adapt-1", alpha, std::nullopt)}) {
    EXPECT_EQ(Recalibrate(server_->stub(), other, Batches(1)).status.error_code(), grpc::StatusCode::ALREADY_EXISTS)
        << other.ShortDebugString();
  }
  ASSERT_TRUE(Recalibrate(server_->stub(), adaptation("adapt-2", alpha, 0.5), Batches(1)).status.ok());  // 3
  EXPECT_EQ(Recalibrate(server_->stub(), adaptation("adapt-2", alpha, 0.25), Batches(1)).status.error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
  ASSERT_TRUE(Recalibrate(server_->stub(), adaptation("adapt-3", prior, std::nullopt), Batches(1)).status.ok());  // 4
  EXPECT_TRUE(Recalibrate(server_->stub(), adaptation("adapt-3", prior, 16.0), Batches(1)).response.deduplicated());
  ASSERT_TRUE(Recalibrate(server_->stub(), adaptation("adapt-4", alpha, std::nullopt), Batches(1)).status.ok());  // 5
  EXPECT_TRUE(Recalibrate(server_->stub(), adaptation("adapt-4", alpha, 0.9), Batches(1)).response.deduplicated());
  EXPECT_EQ(Versions().versions_size(), 5);
}

TEST_F(IdempotencyTest, ADryRunIgnoresTheKey) {
  ASSERT_TRUE(Recalibrate(server_->stub(), Config("job-1"), Batches(1)).status.ok());
  v1::RecalibrationConfig dry = Config("job-1");
  dry.set_dry_run(true);
  const RecalibrateResult result = Recalibrate(server_->stub(), dry, Batches(7));
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_FALSE(result.response.deduplicated());
  EXPECT_EQ(result.response.layers_size(), 2);
  EXPECT_EQ(Versions().versions_size(), 2);
}

TEST_F(IdempotencyTest, TwoConcurrentStreamsWithOneKeyCommitOnce) {
  // Both streams pass the start check before either commits; the commit
  // lock lets one through and answers the other with its version.
  struct Stream {
    std::unique_ptr<grpc::ClientContext> context = NewContext();
    v1::RecalibrateResponse response;
    std::unique_ptr<grpc::ClientWriter<v1::RecalibrateRequest>> writer;
  };
  Stream streams[2];
  for (Stream& stream : streams) {
    stream.writer = server_->stub().Recalibrate(stream.context.get(), &stream.response);
    v1::RecalibrateRequest message;
    *message.mutable_config() = Config("twin", 1);
    ASSERT_TRUE(stream.writer->Write(message));
    for (const v1::Tensor& batch : Batches(3)) {
      message.Clear();
      *message.mutable_batch()->add_inputs() = batch;
      ASSERT_TRUE(stream.writer->Write(message));
    }
  }
  // Both sessions exist (each passed the start check) before either commits.
  auto open_streams = [this] {
    for (const ModelStatus& status : server_->manager().List()) {
      if (status.name == "mlp") return status.active_recalibrations;
    }
    return -1;
  };
  for (int wait = 0; wait < 1000 && open_streams() < 2; ++wait) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(open_streams(), 2);
  for (Stream& stream : streams) stream.writer->WritesDone();
  int deduplicated = 0;
  for (Stream& stream : streams) {
    const grpc::Status status = stream.writer->Finish();
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(stream.response.new_version().version(), 2);
    deduplicated += stream.response.deduplicated() ? 1 : 0;
  }
  EXPECT_EQ(deduplicated, 1);
  EXPECT_EQ(Versions().versions_size(), 2);
}

TEST_F(IdempotencyTest, MalformedKeysAreInvalidArgumentNamingTheField) {
  for (const std::string& bad :
       {std::string("has space"), std::string("slash/no"), std::string("\xc3\xa9"), std::string(129, 'a')}) {
    SCOPED_TRACE(bad);
    const RecalibrateResult result = Recalibrate(server_->stub(), Config(bad), Batches(1));
    EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(result.status.error_message(), HasSubstr("config.request_id: expected"));
  }
  EXPECT_THAT(Recalibrate(server_->stub(), Config(std::string(129, 'a')), Batches(1)).status.error_message(),
              HasSubstr("expected at most 128 characters, got 129"));
  EXPECT_THAT(Recalibrate(server_->stub(), Config("a b"), Batches(1)).status.error_message(),
              HasSubstr("got \" \" at position 1"));
  EXPECT_TRUE(Recalibrate(server_->stub(), Config(std::string(128, 'a')), Batches(1)).status.ok());
  EXPECT_TRUE(Recalibrate(server_->stub(), Config("AZaz09._:-"), Batches(1)).status.ok());
  EXPECT_EQ(Versions().versions_size(), 3);
}

}  // namespace
}  // namespace bnserve::testing
