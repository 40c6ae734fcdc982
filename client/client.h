// Client: a connection to one bnserve server. Owns one channel and the stubs
// built on it in the constructor; every call gets a fresh ClientContext with
// the configured deadline (as gRPC's examples/cpp/deadline/client.cc does),
// and every result is an absl::StatusOr of the response message, with the
// server's gRPC code and message carried over unchanged.
//
// A failure to reach the server at all (no connection could be made) is
// reported as UNAVAILABLE "cannot reach bnserve at <address>", recognisable
// with IsUnreachable(), instead of gRPC's transport details.
//
// Thread-safety: all methods are const and may be called concurrently (gRPC
// channels and stubs are thread-safe).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bnserve/v1/bnserve_service.grpc.pb.h"
#include "client/batches.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/channel.h"

namespace bnserve::client {

struct ClientOptions {
  // host:port of the server.
  std::string address = "localhost:50051";
  // Deadline of every RPC, streams included (from the start of the call).
  absl::Duration timeout = absl::Seconds(30);
  // Plaintext by default (loopback, or a mesh that terminates TLS). With TLS
  // on, the server certificate is verified against root_certs_pem (empty:
  // the system roots); a client certificate is presented when both
  // client_cert_pem and client_key_pem are set (mutual TLS).
  bool use_tls = false;
  std::string tls_root_certs_pem;
  std::string tls_client_cert_pem;
  std::string tls_client_key_pem;
  // When set, the name the server certificate must carry instead of the
  // host of `address` (e.g. connecting by IP to a certificate for a name).
  std::string tls_server_name;
  // When set, sent with every BnServe call as `authorization: Bearer <token>`
  // (servers started with --token-file require it). Sent on plaintext
  // channels too: use TLS off loopback.
  std::string bearer_token;
  // Recalibrate's attempts (>= 1) when an attempt ends with UNAVAILABLE,
  // DEADLINE_EXCEEDED or CANCELLED - outcomes after which the client cannot
  // know whether the server committed. Retries resend the same config
  // (request_id included) and batches, so the server applies the
  // recalibration at most once. Waits between attempts grow from
  // retry_initial_backoff, doubling up to retry_max_backoff, with jitter.
  int recalibrate_attempts = 5;
  absl::Duration retry_initial_backoff = absl::Milliseconds(200);
  absl::Duration retry_max_backoff = absl::Seconds(5);
};

// Progress of a streamed upload, reported after each batch is sent.
struct UploadProgress {
  int64_t batches_sent = 0;
  int64_t total_batches = 0;
  int64_t samples_sent = 0;
  int64_t total_samples = 0;
  int attempt = 1;  // 1 for the first attempt, 2 for the first retry, ...
};
using ProgressCallback = std::function<void(const UploadProgress&)>;

// A model exported with one statistics version.
struct ExportedModel {
  std::string model;
  int64_t statistics_version = 0;
  std::string onnx_bytes;  // the serialized ONNX ModelProto
};

// Ends a call that runs until its client stops it (Client::WatchDrift) from
// another thread, e.g. the one that caught Ctrl-C. A cancellation before the
// call starts ends it as soon as it starts. Thread-safe.
class CallCanceller {
 public:
  void Cancel();
  bool cancelled() const;

 private:
  friend class Client;
  // The call in progress (nullptr = none); cancelled at once if Cancel came first.
  void Attach(grpc::ClientContext* context);

  mutable std::mutex mu_;
  grpc::ClientContext* context_ = nullptr;  // guarded by mu_
  bool cancelled_ = false;                  // guarded by mu_
};

class Client {
 public:
  explicit Client(ClientOptions options);

  const std::string& address() const { return options_.address; }

  // --- Models ---
  absl::StatusOr<v1::ListModelsResponse> ListModels() const;
  absl::StatusOr<v1::DescribeModelResponse> DescribeModel(const std::string& model) const;
  absl::StatusOr<v1::LoadModelResponse> LoadModel(const std::string& model) const;
  absl::StatusOr<v1::ReloadModelResponse> ReloadModel(const std::string& model) const;
  absl::StatusOr<v1::UnloadModelResponse> UnloadModel(const std::string& model) const;
  // grpc.health.v1 Check: "" = the server, else a model name. Returns the
  // serving status name ("SERVING", "NOT_SERVING", ...).
  absl::StatusOr<std::string> CheckHealth(const std::string& service) const;

  // --- Inference and statistics ---
  absl::StatusOr<v1::PredictResponse> Predict(const v1::PredictRequest& request) const;
  absl::StatusOr<v1::GetRunningStatsResponse> GetRunningStats(const v1::GetRunningStatsRequest& request) const;
  absl::StatusOr<v1::GetBatchStatsResponse> GetBatchStats(const v1::GetBatchStatsRequest& request) const;
  // Statistics of ONE batch sent in chunks (GetBatchStatsStream): `header`
  // carries every field except inputs; chunk i of `chunks` is the i-th
  // slice of the batch.
  absl::StatusOr<v1::GetBatchStatsResponse> GetBatchStatsStreamed(const v1::GetBatchStatsRequest& header,
                                                                  const BatchSplitter& chunks) const;
  absl::StatusOr<v1::MomentsResponse> Moments(const v1::MomentsRequest& request) const;

  // --- Recalibration and versions ---
  // Streams `config` then every batch of `batches`, calling `progress`
  // (may be empty) after each one, and returns the server's summary. If the
  // server refuses the stream early (e.g. ABORTED on expected_version) the
  // remaining batches are not sent and its error is returned. Unless
  // config.dry_run or config.stage, a config without request_id gets a
  // random one (NewRequestId), and the whole stream is retried with it as
  // ClientOptions::recalibrate_attempts says; a retry of an attempt that did
  // commit is answered with deduplicated = true and the version it made.
  // `attempts` > 0 overrides ClientOptions::recalibrate_attempts. A staged
  // stream (config.stage: the reply's candidate_id) is sent once: the server
  // takes no request_id with it, so a retry could stage the statistics twice.
  absl::StatusOr<v1::RecalibrateResponse> Recalibrate(const v1::RecalibrationConfig& config,
                                                      const BatchSplitter& batches, const ProgressCallback& progress,
                                                      int attempts = 0) const;
  absl::StatusOr<v1::ListVersionsResponse> ListVersions(const std::string& model) const;
  absl::StatusOr<v1::RollbackResponse> Rollback(const v1::RollbackRequest& request) const;
  // The whole file; DATA_LOSS when the chunks do not add up to total_bytes.
  absl::StatusOr<ExportedModel> Export(const std::string& model, int64_t statistics_version) const;

  // --- Drift monitoring and candidates (docs/drift.md) ---
  absl::StatusOr<v1::GetDriftResponse> GetDrift(const v1::GetDriftRequest& request) const;
  // WatchDrift: calls `on_update` with the model's drift report at once and
  // then after each change, until the server ends the stream, `on_update`
  // returns false, or `canceller` (may be null) is cancelled; the last two
  // end it with OK. The call has no deadline (it runs until stopped); a
  // server that cannot be reached fails it at once.
  absl::Status WatchDrift(const v1::GetDriftRequest& request,
                          const std::function<bool(const v1::GetDriftResponse&)>& on_update,
                          CallCanceller* canceller) const;
  absl::StatusOr<v1::PromoteCandidateResponse> PromoteCandidate(const v1::PromoteCandidateRequest& request) const;
  absl::StatusOr<v1::DiscardCandidateResponse> DiscardCandidate(const v1::DiscardCandidateRequest& request) const;

 private:
  std::unique_ptr<grpc::ClientContext> NewContext() const;
  // One Recalibrate stream, no retry.
  absl::StatusOr<v1::RecalibrateResponse> RecalibrateOnce(const v1::RecalibrationConfig& config,
                                                          const BatchSplitter& batches,
                                                          const ProgressCallback& progress, int attempt) const;
  // One unary RPC on a fresh context.
  template <typename Request, typename Response>
  absl::StatusOr<Response> CallUnary(grpc::Status (v1::BnServe::Stub::*method)(grpc::ClientContext*, const Request&,
                                                                               Response*),
                                     const Request& request) const;
  // gRPC status -> absl status; rewrites "never connected" failures.
  absl::Status FromGrpc(const grpc::Status& status) const;

  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::BnServe::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_stub_;
};

// True for the status Client returns when no connection to the server
// could be made at all (as opposed to an UNAVAILABLE sent by the server,
// e.g. for a model that is still loading).
bool IsUnreachable(const absl::Status& status);

// A random (version 4) UUID, e.g. "1b4e28ba-2fa1-41d2-883f-0016d3cca427":
// a fresh RecalibrationConfig.request_id.
std::string NewRequestId();

// True for the codes after which a Recalibrate attempt's outcome is unknown
// and a retry with the same request_id is safe and useful: UNAVAILABLE,
// DEADLINE_EXCEEDED, CANCELLED (the client never cancels its own calls, so
// a cancellation came from the server or the transport).
bool IsRetryableRecalibrateError(const absl::Status& status);

}  // namespace bnserve::client
