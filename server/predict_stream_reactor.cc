#include "server/reactors.h"

namespace bnserve {
namespace {

// Reads a request, predicts on the pool, writes the response, reads the
// next: one operation in flight at a time, so members need no lock. Nothing
// touches `this` after StartRead/StartWrite/Finish, whose completion may run
// (and delete it) on another thread.
class PredictStreamReactor final : public grpc::ServerBidiReactor<v1::PredictRequest, v1::PredictResponse> {
 public:
  PredictStreamReactor(const CallEnv& env, grpc::CallbackServerContext* context) : env_(env), context_(context) {
    ReleaseToGrpc(this);
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    AcquireFromGrpc(this);
    if (!ok) {
      // The client half-closed (done) or the call was cancelled.
      Finish(ToGrpcStatus(CheckNotCancelled(context_, "stream")));
      return;
    }
    env_.pool->Submit([this] { PredictOne(); });
  }

  void OnWriteDone(bool ok) override {
    AcquireFromGrpc(this);
    if (!ok) {
      Finish(ToGrpcStatus(absl::CancelledError("PredictStream: the client stopped receiving")));
      return;
    }
    request_.Clear();
    ReleaseToGrpc(this);
    StartRead(&request_);
  }

  void OnDone() override {
    AcquireFromGrpc(this);
    delete this;
  }

 private:
  void PredictOne() {
    AcquireFromGrpc(this);
    const auto start = std::chrono::steady_clock::now();
    response_.Clear();
    int64_t samples = 0;
    absl::Status status = PredictImpl(*env_.manager, env_.adapt, request_, &response_, &samples);
    RecordInferenceSamples(env_, request_.model(), samples);
    if (status.ok()) status = CheckResponseSize(response_.ByteSizeLong(), env_.limits);
    EndCall(env_, "PredictStream", request_.model(), context_, status, start);
    ReleaseToGrpc(this);
    if (!status.ok()) {
      Finish(ToGrpcStatus(status));
      return;
    }
    StartWrite(&response_);
  }

  const CallEnv env_;
  grpc::CallbackServerContext* const context_;
  v1::PredictRequest request_;
  v1::PredictResponse response_;
};

}  // namespace

grpc::ServerBidiReactor<v1::PredictRequest, v1::PredictResponse>* NewPredictStreamReactor(
    const CallEnv& env, grpc::CallbackServerContext* context) {
  return new PredictStreamReactor(env, context);
}

}  // namespace bnserve
