#include "tests/bench/loadgen/rpc_callers.h"

#include <utility>

#include "absl/time/clock.h"

namespace bnserve::loadgen {
namespace {

std::unique_ptr<grpc::ClientContext> NewContext(absl::Duration timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

// One Recalibrate stream: writes the config, then the batch `batches`
// times, then half-closes; reports the final status and deletes itself.
class RecalibrateStream final : public grpc::ClientWriteReactor<v1::RecalibrateRequest> {
 public:
  // `owned_config`, when given, is the config (one per stream); else `config`.
  RecalibrateStream(const v1::RecalibrateRequest* config, std::unique_ptr<v1::RecalibrateRequest> owned_config,
                    const v1::RecalibrateRequest* batch, int batches, absl::Duration timeout, DoneCallback done)
      : owned_config_(std::move(owned_config)),
        config_(owned_config_ != nullptr ? owned_config_.get() : config),
        batch_(batch),
        batches_(batches),
        context_(NewContext(timeout)),
        done_(std::move(done)) {}

  void Start(v1::BnServe::Stub* stub) {
    stub->async()->Recalibrate(context_.get(), &response_, this);
    StartWrite(config_);
    StartCall();
  }

  void OnWriteDone(bool ok) override {
    // A failed write means the stream is over; OnDone brings the status.
    if (!ok) return;
    if (written_ < batches_) {
      ++written_;
      StartWrite(batch_);
    } else {
      StartWritesDone();
    }
  }

  void OnDone(const grpc::Status& status) override {
    DoneCallback done = std::move(done_);
    delete this;
    done(status);
  }

 private:
  const std::unique_ptr<v1::RecalibrateRequest> owned_config_;
  const v1::RecalibrateRequest* config_;
  const v1::RecalibrateRequest* batch_;
  const int batches_;
  int written_ = 0;
  std::unique_ptr<grpc::ClientContext> context_;
  v1::RecalibrateResponse response_;
  DoneCallback done_;
};

}  // namespace

int64_t TensorPayloadBytes(const google::protobuf::RepeatedPtrField<v1::Tensor>& tensors) {
  int64_t bytes = 0;
  for (const v1::Tensor& t : tensors) {
    bytes +=
        t.raw_float32_le().empty() ? int64_t{t.values_size()} * 4 : static_cast<int64_t>(t.raw_float32_le().size());
  }
  return bytes;
}

PredictCaller::PredictCaller(std::shared_ptr<grpc::Channel> channel, v1::PredictRequest request, int slots,
                             absl::Duration timeout)
    : stub_(v1::BnServe::NewStub(channel)), request_(std::move(request)), timeout_(timeout), slots_(slots) {}

void PredictCaller::Start(int slot, DoneCallback done) {
  Slot& s = slots_[slot];
  s.context = NewContext(timeout_);
  s.response.Clear();
  stub_->async()->Predict(s.context.get(), &request_, &s.response,
                          [this, &s, done = std::move(done)](grpc::Status status) {
                            if (status.ok()) reply_bytes_.store(TensorPayloadBytes(s.response.outputs()));
                            done(status);
                          });
}

RecalibrateCaller::RecalibrateCaller(std::shared_ptr<grpc::Channel> channel, v1::RecalibrationConfig config,
                                     v1::RecalibrationBatch batch, int batches, absl::Duration timeout,
                                     bool expect_current_version)
    : stub_(v1::BnServe::NewStub(channel)),
      expect_current_version_(expect_current_version),
      batches_(batches),
      timeout_(timeout) {
  *config_.mutable_config() = std::move(config);
  *batch_.mutable_batch() = std::move(batch);
}

void RecalibrateCaller::Start(int slot, DoneCallback done) {
  if (!expect_current_version_) {
    StartStream(nullptr, std::move(done));
    return;
  }
  // Read the served version, then stream against it. The DescribeModel
  // call's state lives until its callback runs.
  struct Describe {
    std::unique_ptr<grpc::ClientContext> context;
    v1::DescribeModelRequest request;
    v1::DescribeModelResponse response;
  };
  auto describe = std::make_shared<Describe>();
  describe->context = NewContext(timeout_);
  describe->request.set_model(config_.config().model());
  stub_->async()->DescribeModel(
      describe->context.get(), &describe->request, &describe->response,
      [this, describe, done = std::move(done)](grpc::Status status) mutable {
        if (!status.ok()) {
          done(status);
          return;
        }
        auto config = std::make_unique<v1::RecalibrateRequest>(config_);
        config->mutable_config()->set_expected_version(describe->response.status().statistics_version());
        StartStream(std::move(config), std::move(done));
      });
}

void RecalibrateCaller::StartStream(std::unique_ptr<v1::RecalibrateRequest> config, DoneCallback done) {
  (new RecalibrateStream(&config_, std::move(config), &batch_, batches_, timeout_, std::move(done)))
      ->Start(stub_.get());
}

EchoCaller::EchoCaller(std::shared_ptr<grpc::Channel> channel, int64_t payload_bytes, int64_t reply_bytes, int slots,
                       absl::Duration timeout)
    : stub_(bench::Echo::NewStub(channel)), timeout_(timeout), slots_(slots) {
  request_.mutable_payload()->assign(static_cast<size_t>(payload_bytes), '\x5a');
  request_.set_reply_bytes(reply_bytes);
}

void EchoCaller::Start(int slot, DoneCallback done) {
  Slot& s = slots_[slot];
  s.context = NewContext(timeout_);
  s.reply.Clear();
  stub_->async()->Echo(s.context.get(), &request_, &s.reply,
                       [done = std::move(done)](grpc::Status status) { done(status); });
}

}  // namespace bnserve::loadgen
