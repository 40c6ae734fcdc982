#include "server/reactors.h"
#include "spdlog/spdlog.h"

namespace bnserve {
namespace {

// Reads the config and the batches into a RecalibrationStream (each batch
// runs a statistics pass on the recalibration pool) and commits when the client
// half-closes. A false OnReadDone means "done" OR "cancelled" (deadline
// exceeded included), so CheckNotCancelled runs once when the stream ends
// and again right before committing, after the wait for a pool thread; it
// also compares the deadline with the clock (a deadline can end the read
// before IsCancelled turns true). Any error, or a cancellation, finishes the call and
// destroys the stream, which commits nothing.
class RecalibrateReactor final : public grpc::ServerReadReactor<v1::RecalibrateRequest> {
 public:
  RecalibrateReactor(const CallEnv& env, grpc::CallbackServerContext* context, v1::RecalibrateResponse* response)
      : env_(env), context_(context), response_(response), stream_(env.manager, env.adapt) {
    ReleaseToGrpc(this);
    StartRead(&message_);
  }

  void OnReadDone(bool ok) override {
    AcquireFromGrpc(this);
    if (ok) {
      env_.recalibration_pool->Submit([this] { AddMessage(); });
      return;
    }
    const absl::Status cancelled = CheckNotCancelled(context_, "recalibration (nothing committed)");
    if (!cancelled.ok()) {
      Abandon(cancelled);
    } else {
      env_.recalibration_pool->Submit([this] { Commit(); });
    }
  }

  void OnDone() override {
    AcquireFromGrpc(this);
    delete this;
  }

 private:
  void AddMessage() {
    AcquireFromGrpc(this);
    const absl::Status status = stream_.Add(message_);
    if (!status.ok()) {
      Abandon(status);
      return;
    }
    if (env_.metrics != nullptr && message_.has_batch()) {
      env_.metrics->AddRecalibrationSamples(stream_.model(), stream_.last_batch_samples());
    }
    message_.Clear();
    ReleaseToGrpc(this);
    StartRead(&message_);
  }

  void Commit() {
    AcquireFromGrpc(this);
    absl::Status status = CheckNotCancelled(context_, "recalibration (nothing committed)");
    if (!status.ok()) {
      Abandon(status);
      return;
    }
    status = stream_.Finish(response_);
    if (env_.metrics != nullptr && !stream_.dry_run() && !(status.ok() && response_->deduplicated())) {
      env_.metrics->RecordCommit(stream_.model(), status.ok());
    }
    EndCall(env_, "Recalibrate", stream_.model(), context_, status, start_);
    ReleaseToGrpc(this);
    Finish(ToGrpcStatus(status));
  }

  void Abandon(const absl::Status& status) {
    stream_.Abandon();
    spdlog::info("event=recalibration_abandoned model={} code={} reason=\"{}\"", stream_.model(),
                 absl::StatusCodeToString(status.code()), std::string(status.message()));
    EndCall(env_, "Recalibrate", stream_.model(), context_, status, start_);
    ReleaseToGrpc(this);
    Finish(ToGrpcStatus(status));
  }

  const CallEnv env_;
  grpc::CallbackServerContext* const context_;
  v1::RecalibrateResponse* const response_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  v1::RecalibrateRequest message_;
  RecalibrationStream stream_;
};

}  // namespace

grpc::ServerReadReactor<v1::RecalibrateRequest>* NewRecalibrateReactor(const CallEnv& env,
                                                                       grpc::CallbackServerContext* context,
                                                                       v1::RecalibrateResponse* response) {
  return new RecalibrateReactor(env, context, response);
}

}  // namespace bnserve
