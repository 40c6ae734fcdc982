#include "client/client.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <random>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace bnserve::client {
namespace {

// Marks the status FromGrpc builds for a server that could not be reached.
constexpr char kUnreachablePayload[] = "type.bnserve.dev/bnctl.unreachable";

std::shared_ptr<grpc::ChannelCredentials> MakeCredentials(const ClientOptions& options) {
  if (!options.use_tls) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = options.tls_root_certs_pem;
  ssl.pem_cert_chain = options.tls_client_cert_pem;
  ssl.pem_private_key = options.tls_client_key_pem;
  return grpc::SslCredentials(ssl);
}

std::shared_ptr<grpc::Channel> MakeChannel(const ClientOptions& options) {
  grpc::ChannelArguments args;
  // The server bounds what it sends (ListModelsResponse.max_message_bytes);
  // the client accepts whatever that is.
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  if (options.use_tls && !options.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls_server_name);
  }
  return grpc::CreateCustomChannel(options.address, MakeCredentials(options), args);
}

}  // namespace

Client::Client(ClientOptions options)
    : options_(std::move(options)),
      channel_(MakeChannel(options_)),
      stub_(v1::BnServe::NewStub(channel_)),
      health_stub_(grpc::health::v1::Health::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> Client::NewContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
  if (!options_.bearer_token.empty()) context->AddMetadata("authorization", "Bearer " + options_.bearer_token);
  return context;
}

absl::Status Client::FromGrpc(const grpc::Status& status) const {
  if (status.ok()) return absl::OkStatus();
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  // A server that answered leaves the channel READY; a refused or
  // unanswered connection leaves it CONNECTING or TRANSIENT_FAILURE.
  if ((code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded) &&
      channel_->GetState(/*try_to_connect=*/false) != GRPC_CHANNEL_READY) {
    absl::Status unreachable(code, absl::StrCat("cannot reach bnserve at ", options_.address));
    unreachable.SetPayload(kUnreachablePayload, absl::Cord(status.error_message()));
    return unreachable;
  }
  return absl::Status(code, status.error_message());
}

bool IsUnreachable(const absl::Status& status) { return status.GetPayload(kUnreachablePayload).has_value(); }

template <typename Request, typename Response>
absl::StatusOr<Response> Client::CallUnary(grpc::Status (v1::BnServe::Stub::*method)(grpc::ClientContext*,
                                                                                     const Request&, Response*),
                                           const Request& request) const {
  auto context = NewContext();
  Response response;
  grpc::Status status = (stub_.get()->*method)(context.get(), request, &response);
  if (!status.ok()) return FromGrpc(status);
  return response;
}

absl::StatusOr<v1::ListModelsResponse> Client::ListModels() const {
  return CallUnary(&v1::BnServe::Stub::ListModels, v1::ListModelsRequest());
}

absl::StatusOr<v1::DescribeModelResponse> Client::DescribeModel(const std::string& model) const {
  v1::DescribeModelRequest request;
  request.set_model(model);
  return CallUnary(&v1::BnServe::Stub::DescribeModel, request);
}

absl::StatusOr<v1::LoadModelResponse> Client::LoadModel(const std::string& model) const {
  v1::LoadModelRequest request;
  request.set_model(model);
  return CallUnary(&v1::BnServe::Stub::LoadModel, request);
}

absl::StatusOr<v1::ReloadModelResponse> Client::ReloadModel(const std::string& model) const {
  v1::ReloadModelRequest request;
  request.set_model(model);
  return CallUnary(&v1::BnServe::Stub::ReloadModel, request);
}

absl::StatusOr<v1::UnloadModelResponse> Client::UnloadModel(const std::string& model) const {
  v1::UnloadModelRequest request;
  request.set_model(model);
  return CallUnary(&v1::BnServe::Stub::UnloadModel, request);
}

absl::StatusOr<v1::PredictResponse> Client::Predict(const v1::PredictRequest& request) const {
  return CallUnary(&v1::BnServe::Stub::Predict, request);
}

absl::StatusOr<v1::GetRunningStatsResponse> Client::GetRunningStats(const v1::GetRunningStatsRequest& request) const {
  return CallUnary(&v1::BnServe::Stub::GetRunningStats, request);
}

absl::StatusOr<v1::GetBatchStatsResponse> Client::GetBatchStats(const v1::GetBatchStatsRequest& request) const {
  return CallUnary(&v1::BnServe::Stub::GetBatchStats, request);
}

absl::StatusOr<v1::MomentsResponse> Client::Moments(const v1::MomentsRequest& request) const {
  return CallUnary(&v1::BnServe::Stub::Moments, request);
}

absl::StatusOr<v1::ListVersionsResponse> Client::ListVersions(const std::string& model) const {
  v1::ListVersionsRequest request;
  request.set_model(model);
  return CallUnary(&v1::BnServe::Stub::ListVersions, request);
}

absl::StatusOr<v1::RollbackResponse> Client::Rollback(const v1::RollbackRequest& request) const {
  return CallUnary(&v1::BnServe::Stub::Rollback, request);
}

absl::StatusOr<std::string> Client::CheckHealth(const std::string& service) const {
  auto context = NewContext();
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = health_stub_->Check(context.get(), request, &response);
  if (!status.ok()) return FromGrpc(status);
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
}

absl::StatusOr<v1::GetBatchStatsResponse> Client::GetBatchStatsStreamed(const v1::GetBatchStatsRequest& header,
                                                                        const BatchSplitter& chunks) const {
  auto context = NewContext();
  v1::GetBatchStatsResponse response;
  auto writer = stub_->GetBatchStatsStream(context.get(), &response);
  bool ok = true;
  for (int64_t i = 0; ok && i < chunks.num_batches(); ++i) {
    v1::GetBatchStatsRequest request;
    if (i == 0) {
      request = header;
      request.clear_inputs();
    }
    *request.add_inputs() = chunks.Batch(i);
    ok = writer->Write(request);
  }
  if (ok) writer->WritesDone();
  grpc::Status status = writer->Finish();
  if (!status.ok()) return FromGrpc(status);
  return response;
}

std::string NewRequestId() {
  std::random_device device;
  std::array<uint8_t, 16> bytes;
  for (size_t i = 0; i < bytes.size(); i += 4) {
    const uint32_t word = device();
    for (size_t j = 0; j < 4; ++j) bytes[i + j] = static_cast<uint8_t>(word >> (8 * j));
  }
  bytes[6] = static_cast<uint8_t>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] = static_cast<uint8_t>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  std::string id;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) id += '-';
    absl::StrAppend(&id, absl::Hex(static_cast<unsigned>(bytes[i]), absl::kZeroPad2));
  }
  return id;
}

bool IsRetryableRecalibrateError(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status) || absl::IsCancelled(status);
}

absl::StatusOr<v1::RecalibrateResponse> Client::Recalibrate(const v1::RecalibrationConfig& config,
                                                            const BatchSplitter& batches,
                                                            const ProgressCallback& progress, int max_attempts) const {
  v1::RecalibrationConfig keyed = config;
  if (!keyed.dry_run() && !keyed.stage() && keyed.request_id().empty()) keyed.set_request_id(NewRequestId());
  const int attempts =
      keyed.stage() ? 1 : std::max(1, max_attempts > 0 ? max_attempts : options_.recalibrate_attempts);
  std::mt19937_64 jitter(std::random_device{}());
  absl::Duration backoff = options_.retry_initial_backoff;
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<v1::RecalibrateResponse> response = RecalibrateOnce(keyed, batches, progress, attempt);
    if (response.ok() || attempt >= attempts || !IsRetryableRecalibrateError(response.status())) {
      if (!response.ok() && attempt > 1) {
        absl::Status last(response.status().code(),
                          absl::StrCat(response.status().message(), " (after ", attempt, " attempts with request_id ",
                                       keyed.request_id(), ")"));
        // Keeps the marker IsUnreachable looks for.
        response.status().ForEachPayload(
            [&last](absl::string_view type_url, const absl::Cord& payload) { last.SetPayload(type_url, payload); });
        return last;
      }
      return response;
    }
    // "Equal jitter" (AWS architecture blog, "Exponential Backoff And
    // Jitter"): clients that failed together do not retry together.
    const double fraction = std::uniform_real_distribution<double>(0.5, 1.0)(jitter);
    absl::SleepFor(backoff * fraction);
    backoff = std::min(backoff * 2, options_.retry_max_backoff);
  }
}

absl::StatusOr<v1::RecalibrateResponse> Client::RecalibrateOnce(const v1::RecalibrationConfig& config,
                                                                const BatchSplitter& batches,
                                                                const ProgressCallback& progress, int attempt) const {
  auto context = NewContext();
  v1::RecalibrateResponse response;
  auto writer = stub_->Recalibrate(context.get(), &response);
  v1::RecalibrateRequest first;
  *first.mutable_config() = config;
  bool ok = writer->Write(first);
  UploadProgress sent;
  sent.attempt = attempt;
  sent.total_batches = batches.num_batches();
  sent.total_samples = batches.num_batches() == 0 ? 0 : batches.end(batches.num_batches() - 1);
  for (int64_t i = 0; ok && i < batches.num_batches(); ++i) {
    v1::RecalibrateRequest request;
    *request.mutable_batch()->add_inputs() = batches.Batch(i);
    ok = writer->Write(request);
    if (!ok) break;
    ++sent.batches_sent;
    sent.samples_sent = batches.end(i);
    if (progress) progress(sent);
  }
  if (ok) writer->WritesDone();
  grpc::Status status = writer->Finish();
  if (!status.ok()) return FromGrpc(status);
  return response;
}

void CallCanceller::Cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
  if (context_ != nullptr) context_->TryCancel();
}

bool CallCanceller::cancelled() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancelled_;
}

void CallCanceller::Attach(grpc::ClientContext* context) {
  std::lock_guard<std::mutex> lock(mu_);
  context_ = context;
  if (cancelled_ && context_ != nullptr) context_->TryCancel();
}

absl::StatusOr<v1::GetDriftResponse> Client::GetDrift(const v1::GetDriftRequest& request) const {
  return CallUnary(&v1::BnServe::Stub::GetDrift, request);
}

absl::Status Client::WatchDrift(const v1::GetDriftRequest& request,
                                const std::function<bool(const v1::GetDriftResponse&)>& on_update,
                                CallCanceller* canceller) const {
  auto context = NewContext();
  // A watch lasts as long as its client wants it; the timeout bounds calls
  // that have an end.
  context->set_deadline(std::chrono::system_clock::time_point::max());
  CallCanceller own;
  CallCanceller* stop = canceller != nullptr ? canceller : &own;
  stop->Attach(context.get());
  auto reader = stub_->WatchDrift(context.get(), request);
  v1::GetDriftResponse update;
  while (reader->Read(&update)) {
    if (!on_update(update)) {
      stop->Cancel();
      break;
    }
  }
  while (reader->Read(&update)) {
  }
  grpc::Status status = reader->Finish();
  const bool stopped_here = stop->cancelled();
  stop->Attach(nullptr);
  if (stopped_here && status.error_code() == grpc::StatusCode::CANCELLED) return absl::OkStatus();
  return FromGrpc(status);
}

absl::StatusOr<v1::PromoteCandidateResponse> Client::PromoteCandidate(
    const v1::PromoteCandidateRequest& request) const {
  return CallUnary(&v1::BnServe::Stub::PromoteCandidate, request);
}

absl::StatusOr<v1::DiscardCandidateResponse> Client::DiscardCandidate(
    const v1::DiscardCandidateRequest& request) const {
  return CallUnary(&v1::BnServe::Stub::DiscardCandidate, request);
}

absl::StatusOr<ExportedModel> Client::Export(const std::string& model, int64_t statistics_version) const {
  auto context = NewContext();
  v1::ExportRequest request;
  request.set_model(model);
  request.set_statistics_version(statistics_version);
  auto reader = stub_->Export(context.get(), request);
  ExportedModel exported;
  int64_t total_bytes = -1;
  v1::ExportChunk chunk;
  while (reader->Read(&chunk)) {
    if (total_bytes < 0) {
      exported.model = chunk.model();
      exported.statistics_version = chunk.statistics_version();
      total_bytes = chunk.total_bytes();
    }
    exported.onnx_bytes += chunk.data();
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) return FromGrpc(status);
  if (total_bytes < 0 || static_cast<int64_t>(exported.onnx_bytes.size()) != total_bytes) {
    return absl::DataLossError(absl::StrCat("export of '", model, "': received ", exported.onnx_bytes.size(),
                                            " bytes, the server announced ", total_bytes < 0 ? 0 : total_bytes));
  }
  return exported;
}

}  // namespace bnserve::client
