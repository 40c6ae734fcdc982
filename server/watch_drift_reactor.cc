#include <mutex>

#include "server/reactors.h"

namespace bnserve {
namespace {

// Writes the model's drift report at once, then again whenever the monitor
// closes a window or decides something, until the client cancels. At most
// one write is in flight; changes meanwhile collapse into the next write,
// which always carries the latest state (a slow client skips states, it
// never queues them).
class WatchDriftReactor final : public grpc::ServerWriteReactor<v1::GetDriftResponse> {
 public:
  WatchDriftReactor(const CallEnv& env, grpc::CallbackServerContext* context, const v1::GetDriftRequest* request)
      : env_(env), context_(context), request_(*request) {
    env_.pool->Submit([this] { Subscribe(); });
  }

  void OnWriteDone(bool ok) override {
    AcquireFromGrpc(this);
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = false;
      if (!ok) cancelled_ = true;
    }
    Step();
  }

  void OnCancel() override {
    AcquireFromGrpc(this);
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_ = true;
    }
    Step();
  }

  void OnDone() override {
    AcquireFromGrpc(this);
    // After this no callback of the monitor can reach `this`.
    if (subscription_ != 0) env_.adapt->Unsubscribe(request_.model(), subscription_);
    delete this;
  }

 private:
  void Subscribe() {
    AcquireFromGrpc(this);
    absl::Status status = env_.adapt == nullptr ? absl::FailedPreconditionError("this server keeps no drift monitors")
                                                : absl::OkStatus();
    // A first report now: it also refuses a model that is not monitored.
    if (status.ok()) status = GetDriftImpl(*env_.adapt, request_, &response_);
    if (status.ok()) {
      absl::StatusOr<int64_t> id = env_.adapt->Subscribe(request_.model(), [this] {
        {
          std::lock_guard<std::mutex> lock(mu_);
          changed_ = true;
        }
        Step();
      });
      status = id.status();
      if (id.ok()) subscription_ = *id;
    }
    EndCall(env_, "WatchDrift", request_.model(), context_, status, start_);
    std::lock_guard<std::mutex> lock(mu_);
    WriteOrFinish(status);
  }

  // Writes response_, or finishes the call when `status` is an error.
  // REQUIRES: mu_, no write in flight.
  void WriteOrFinish(const absl::Status& status) {
    ReleaseToGrpc(this);
    if (!status.ok()) {
      finished_ = true;
      Finish(ToGrpcStatus(status));
      return;
    }
    writing_ = true;
    StartWrite(&response_);
  }

  // Finishes after a cancellation, or writes the latest report when it
  // changed and no write is in flight.
  void Step() {
    std::unique_lock<std::mutex> lock(mu_);
    if (finished_ || writing_ || subscription_ == 0) return;
    if (cancelled_) {
      finished_ = true;
      ReleaseToGrpc(this);
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "WatchDrift: the client stopped watching"));
      return;
    }
    if (!changed_) return;
    changed_ = false;
    response_.Clear();
    WriteOrFinish(GetDriftImpl(*env_.adapt, request_, &response_));
  }

  const CallEnv env_;
  grpc::CallbackServerContext* const context_;
  const v1::GetDriftRequest request_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  int64_t subscription_ = 0;  // set once, before the first write

  std::mutex mu_;
  bool writing_ = false;    // guarded by mu_
  bool changed_ = false;    // guarded by mu_
  bool cancelled_ = false;  // guarded by mu_
  bool finished_ = false;   // guarded by mu_
  v1::GetDriftResponse response_;  // written only while no write is in flight
};

}  // namespace

grpc::ServerWriteReactor<v1::GetDriftResponse>* NewWatchDriftReactor(const CallEnv& env,
                                                                    grpc::CallbackServerContext* context,
                                                                    const v1::GetDriftRequest* request) {
  return new WatchDriftReactor(env, context, request);
}

}  // namespace bnserve
