// Client::Recalibrate's retry loop against a scripted in-process server:
// every attempt resends the same request_id, config and batches; only
// outcomes that leave the commit unknown (UNAVAILABLE, DEADLINE_EXCEEDED,
// CANCELLED) are retried; attempts are bounded; a key is drawn when the
// caller gave none (not for dry runs).
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "bnserve/v1/bnserve_service.grpc.pb.h"
#include "client/batches.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace bnserve::client {
namespace {

using ::testing::HasSubstr;

// Answers each Recalibrate with the next scripted status (OK once the
// script is used up) after reading the whole stream, and records what came.
class ScriptedService final : public v1::BnServe::Service {
 public:
  struct Attempt {
    v1::RecalibrationConfig config;
    std::vector<std::string> batches;  // serialized tensors
  };

  void Script(std::deque<grpc::StatusCode> codes) { codes_ = std::move(codes); }
  std::vector<Attempt> attempts() {
    std::lock_guard<std::mutex> lock(mu_);
    return attempts_;
  }

  grpc::Status Recalibrate(grpc::ServerContext*, grpc::ServerReader<v1::RecalibrateRequest>* reader,
                           v1::RecalibrateResponse* response) override {
    Attempt attempt;
    v1::RecalibrateRequest message;
    while (reader->Read(&message)) {
      if (message.has_config()) attempt.config = message.config();
      if (message.has_batch()) attempt.batches.push_back(message.batch().inputs(0).SerializeAsString());
    }
    grpc::StatusCode code = grpc::StatusCode::OK;
    {
      std::lock_guard<std::mutex> lock(mu_);
      attempts_.push_back(attempt);
      if (!codes_.empty()) {
        code = codes_.front();
        codes_.pop_front();
      }
    }
    if (code != grpc::StatusCode::OK) return grpc::Status(code, "scripted failure");
    response->set_model(attempt.config.model());
    response->set_deduplicated(attempts_.size() > 1);
    response->mutable_new_version()->set_version(2);
    response->mutable_new_version()->set_request_id(attempt.config.request_id());
    return grpc::Status::OK;
  }

 private:
  std::mutex mu_;
  std::deque<grpc::StatusCode> codes_;
  std::vector<Attempt> attempts_;
};

class ClientRetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ClientOptions options;
    options.address = "127.0.0.1:" + std::to_string(port_);
    options.timeout = absl::Seconds(20);
    options.retry_initial_backoff = absl::Milliseconds(1);
    options.retry_max_backoff = absl::Milliseconds(4);
    client_ = std::make_unique<Client>(options);
    data_.shape = {5, 2};
    for (int i = 0; i < 10; ++i) data_.values.push_back(static_cast<float>(i));
  }
  void TearDown() override { server_->Shutdown(); }

  static v1::RecalibrationConfig Config(const std::string& request_id) {
    v1::RecalibrationConfig config;
    config.set_model("m");
    config.set_note("n");
    config.set_request_id(request_id);
    return config;
  }

  ScriptedService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::unique_ptr<Client> client_;
  FloatArray data_;
};

TEST_F(ClientRetryTest, UnknownOutcomesAreRetriedWithTheSameKeyAndBatches) {
  service_.Script({grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::DEADLINE_EXCEEDED, grpc::StatusCode::CANCELLED});
  BatchSplitter batches(data_, 2);
  std::vector<int> progress_attempts;
  auto response = client_->Recalibrate(Config("key-1"), batches,
                                       [&](const UploadProgress& p) { progress_attempts.push_back(p.attempt); });
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_TRUE(response->deduplicated());
  const auto attempts = service_.attempts();
  ASSERT_EQ(attempts.size(), 4u);
  for (const auto& attempt : attempts) {
    EXPECT_EQ(attempt.config.SerializeAsString(), Config("key-1").SerializeAsString());
    EXPECT_EQ(attempt.batches, attempts[0].batches);
    EXPECT_EQ(attempt.batches.size(), 3u);
  }
  EXPECT_EQ(progress_attempts, (std::vector<int>{1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4}));
}

TEST_F(ClientRetryTest, AttemptsAreBoundedAndTheLastErrorSaysHowMany) {
  service_.Script({grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::UNAVAILABLE});
  BatchSplitter batches(data_, 5);
  auto response = client_->Recalibrate(Config("key-2"), batches, {}, /*attempts=*/2);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(response.status().message(), HasSubstr("after 2 attempts with request_id key-2"));
  EXPECT_EQ(service_.attempts().size(), 2u);
}

TEST_F(ClientRetryTest, DefiniteErrorsAreNotRetried) {
  for (const grpc::StatusCode code :
       {grpc::StatusCode::ABORTED, grpc::StatusCode::ALREADY_EXISTS, grpc::StatusCode::INVALID_ARGUMENT,
        grpc::StatusCode::RESOURCE_EXHAUSTED, grpc::StatusCode::FAILED_PRECONDITION}) {
    const size_t before = service_.attempts().size();
    service_.Script({code});
    BatchSplitter batches(data_, 5);
    auto response = client_->Recalibrate(Config("key-3"), batches, {});
    EXPECT_EQ(static_cast<int>(response.status().code()), static_cast<int>(code));
    EXPECT_EQ(service_.attempts().size(), before + 1) << "code " << code;
  }
}

TEST_F(ClientRetryTest, AKeyIsDrawnUnlessGivenOrADryRun) {
  BatchSplitter batches(data_, 5);
  ASSERT_TRUE(client_->Recalibrate(Config(""), batches, {}).ok());
  ASSERT_TRUE(client_->Recalibrate(Config(""), batches, {}).ok());
  v1::RecalibrationConfig dry = Config("");
  dry.set_dry_run(true);
  ASSERT_TRUE(client_->Recalibrate(dry, batches, {}).ok());
  const auto attempts = service_.attempts();
  ASSERT_EQ(attempts.size(), 3u);
  EXPECT_THAT(attempts[0].config.request_id(),
              ::testing::MatchesRegex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"));
  EXPECT_NE(attempts[0].config.request_id(), attempts[1].config.request_id());
  EXPECT_EQ(attempts[2].config.request_id(), "");
}

}  // namespace
}  // namespace bnserve::client
