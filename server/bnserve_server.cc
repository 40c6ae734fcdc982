#include "server/bnserve_server.h"

#include <functional>
#include <future>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "spdlog/spdlog.h"

namespace bnserve {
namespace {

// Runs `route` on the worker pool and waits for its answer. The HTTP
// connection threads only read and write: requests compute on the workers,
// like every gRPC call, so that --worker-threads keeps bounding how many
// requests compute at once (the HTTP threads would otherwise add up to
// HttpServerOptions::threads more on the same cores) and HTTP requests
// queue with gRPC's in one order. (Stack depth is no reason any more: the
// connection threads have the default stack size.) An exception is rethrown
// on the caller's thread, where the HTTP adapter turns it into a 500.
HttpResponse RunOnPool(WorkerPool* pool, const std::function<HttpResponse()>& route) {
  std::promise<HttpResponse> done;
  std::future<HttpResponse> response = done.get_future();
  pool->Submit([&] {
    try {
      done.set_value(route());
    } catch (...) {
      done.set_exception(std::current_exception());
    }
  });
  return response.get();
}

// Start-up warnings for set-ups that leave the service exposed.
void LogSecurity(const ServerOptions& options) {
  if (!options.tls.enabled() && !IsLoopbackListenAddress(options.listen)) {
    spdlog::warn(
        "event=insecure_listen listen={} detail=\"plaintext gRPC on a non-loopback address: requests, "
        "statistics and bearer tokens cross the network unencrypted; use --tls-cert/--tls-key\"",
        options.listen);
  }
  if (!options.tls.enabled() && !options.http_listen.empty() && !IsLoopbackListenAddress(options.http_listen)) {
    spdlog::warn(
        "event=insecure_http_listen listen={} detail=\"plaintext HTTP (/metrics, /v2 inference) on a non-loopback "
        "address: requests, answers and bearer tokens cross the network unencrypted; use --tls-cert/--tls-key "
        "(they cover both ports)\"",
        options.http_listen);
  }
  if (!options.auth.enabled()) {
    spdlog::warn(
        "event=auth_disabled detail=\"no --token-file: every RPC, including the mutating ones (LoadModel, "
        "ReloadModel, UnloadModel, Recalibrate, Rollback), is open to anyone who can connect\"");
  }
}

}  // namespace

int ResolveWorkerThreads(int worker_threads) {
  return worker_threads > 0 ? worker_threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

absl::StatusOr<std::unique_ptr<BnServer>> BnServer::Start(ModelManager* manager, const ServerOptions& options) {
  if (options.limits.max_message_bytes < 1024 || options.limits.max_message_bytes > INT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("max message size: expected 1 KiB to 2 GiB, got ", options.limits.max_message_bytes, " bytes"));
  }
  BN_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials, MakeServerCredentials(options.tls));
  std::unique_ptr<BnServer> server(new BnServer());
  server->manager_ = manager;
  server->auth_ = options.auth;
  const int threads = ResolveWorkerThreads(options.worker_threads);
  if (options.recalibration_threads < 0 || options.recalibration_nice < 0 || options.recalibration_nice > 19) {
    return absl::InvalidArgumentError(
        absl::StrCat("recalibration pool: expected threads >= 0 and nice in 0..19, got threads ",
                     options.recalibration_threads, " and nice ", options.recalibration_nice));
  }
  server->pool_ = std::make_unique<WorkerPool>(threads);
  if (options.recalibration_threads > 0) {
    server->recalibration_pool_ =
        std::make_unique<WorkerPool>(options.recalibration_threads, options.recalibration_nice);
  }
  WorkerPool* recalibration_pool =
      server->recalibration_pool_ != nullptr ? server->recalibration_pool_.get() : server->pool_.get();
  if (!options.http_listen.empty()) {
    server->metrics_ = std::make_unique<ServerMetrics>();
    server->model_collector_ = std::make_unique<ModelCollector>(manager);
  }
  server->adapt_ = std::make_unique<AdaptationManager>();
  server->adapt_->Attach(manager);
  if (!options.http_listen.empty()) server->drift_collector_ = std::make_unique<DriftCollector>(server->adapt_.get());
  CallEnv env{manager,        server->pool_.get(), recalibration_pool,
              options.limits, &server->auth_,      server->metrics_.get()};
  env.adapt = server->adapt_.get();
  server->service_ = std::make_unique<BnServeService>(env);
  server->oip_service_ = std::make_unique<OipService>(env);

  // Both are process-wide switches read by the next ServerBuilder.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, credentials, &server->port_);
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.limits.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(options.limits.max_message_bytes));
  const GrpcArgs grpc_args = ServerGrpcArgs(options.grpc_args);
  ApplyGrpcArgs(grpc_args, &builder);
  builder.RegisterService(server->service_.get());
  builder.RegisterService(server->oip_service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("could not listen on ", options.listen, " (address in use, or not a valid host:port)"));
  }

  // Only now that Start cannot fail: Shutdown removes it again.
  manager->SetPredictionTap(server->adapt_.get());
  grpc::HealthCheckServiceInterface* health = server->server_->GetHealthCheckService();
  health->SetServingStatus("", true);
  manager->SetStateListener([health, metrics = server->metrics_.get()](const std::string& name, ModelState state) {
    health->SetServingStatus(name, state == ModelState::kAvailable);
    if (metrics != nullptr) metrics->OnModelState(name, state);
  });
  if (!options.http_listen.empty()) {
    server->http_env_ =
        HttpEnv{manager,
                &server->auth_,
                server->metrics_.get(),
                {server->metrics_->registry().get(), server->model_collector_.get(), server->drift_collector_.get(),
                 &server->process_collector_}};
    HttpServerOptions http_options;
    http_options.listen = options.http_listen;
    http_options.max_body_bytes = options.limits.max_message_bytes;
    http_options.tls = options.tls;
    BN_ASSIGN_OR_RETURN(server->http_server_,
                        HttpServer::Start(http_options, [env = &server->http_env_, pool = server->pool_.get()](
                                                            const HttpRequest& request) {
                          return RunOnPool(pool, [&] { return RouteHttp(*env, request); });
                        }));
    spdlog::info("event=http_started listen={} port={} tls={}", options.http_listen, server->http_port(),
                 server->http_server_->tls());
  }
  LogSecurity(options);
  spdlog::info(
      "event=server_started listen={} port={} worker_threads={} recalibration_threads={} recalibration_nice={} "
      "grpc_args=\"{}\" max_message_bytes={} tls={} mutual_tls={} token_auth={} read_auth={}",
      options.listen, server->port_, threads, options.recalibration_threads, options.recalibration_nice,
      absl::StrJoin(grpc_args, " ", absl::PairFormatter("=")), options.limits.max_message_bytes, options.tls.enabled(),
      !options.tls.client_ca.empty(), options.auth.enabled(),
      options.auth.read_auth() == ReadAuth::kToken ? "token" : "open");
  return server;
}

void BnServer::Shutdown(std::chrono::system_clock::time_point deadline) {
  std::call_once(shutdown_once_, [&] {
    // Load balancers stop routing here before the listener closes.
    server_->GetHealthCheckService()->Shutdown();
    manager_->SetStateListener(nullptr);
    server_->Shutdown(deadline);
    server_->Wait();
    http_server_.reset();
    // No call is left to predict; the monitors may still be committing a
    // promotion, which Stop waits for, while the manager is alive.
    manager_->SetPredictionTap(nullptr);
    adapt_->Stop();
    // Every call has ended. Joining the pools' threads here, before the
    // service and its message arenas are destroyed, makes the end of the
    // last task they ran happen-before that destruction in a way the
    // program itself states (ThreadSanitizer cannot see the ordering gRPC's
    // uninstrumented completion path provides).
    recalibration_pool_.reset();
    pool_.reset();
    spdlog::info("event=server_stopped");
  });
}

BnServer::~BnServer() {
  if (server_ != nullptr) Shutdown(std::chrono::system_clock::now());
}

}  // namespace bnserve
