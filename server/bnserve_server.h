// BnServer: a running bnserve gRPC server - the BnServe service and the
// Open Inference Protocol's GRPCInferenceService (server/oip/), the
// standard health service (service "" = the server, service "<model>" =
// that model, kept in step with the ModelManager's states) and server
// reflection, on one listening address, over TLS or plaintext (TlsFiles)
// and with bearer-token authorisation of the BnServe RPCs (AuthPolicy). Owns the worker pool and the
// grpc::Server; the ModelManager is not owned and must outlive it.
//
// Thread-safe: Shutdown may be called from any thread (e.g. the one that
// caught SIGTERM) while calls are being served.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "core/adapt/adaptation_manager.h"
#include "core/serving/model_manager.h"
#include "grpcpp/server.h"
#include "server/auth/auth_policy.h"
#include "server/auth/tls_options.h"
#include "server/bnserve_service.h"
#include "server/grpc_args.h"
#include "server/http/http_routes.h"
#include "server/http/http_server.h"
#include "server/metrics/drift_collector.h"
#include "server/metrics/model_collector.h"
#include "server/metrics/process_collector.h"
#include "server/metrics/server_metrics.h"
#include "server/oip/oip_service.h"
#include "server/worker_pool.h"

namespace bnserve {

struct ServerOptions {
  // host:port; port 0 picks a free port (see BnServer::port()).
  std::string listen = "0.0.0.0:50051";
  // Threads computing requests; 0 = one per hardware thread.
  int worker_threads = 0;
  // Threads of the separate pool running Recalibrate batches and commits, at
  // CPU priority `recalibration_nice` (0..19, higher = lower priority);
  // 0 threads = run them on the workers, as predictions.
  int recalibration_threads = 1;
  int recalibration_nice = 10;
  // gRPC channel arguments over bnserve's defaults (server/grpc_args.h).
  GrpcArgs grpc_args;
  ServiceLimits limits;
  // No files = plaintext; otherwise the gRPC port and the HTTP port serve
  // TLS only.
  TlsFiles tls;
  // Default = every RPC open.
  AuthPolicy auth;
  // host:port of the HTTP port (/metrics, the Open Inference Protocol's
  // /v2 routes), HTTPS with `tls` (the same files as the gRPC port); port 0
  // picks a free port (see BnServer::http_port()).
  // Empty = no HTTP port and no metrics recorded.
  std::string http_listen;
};

// The worker thread count a ServerOptions::worker_threads value means (0 =
// one per hardware thread, at least 1).
int ResolveWorkerThreads(int worker_threads);

class BnServer {
 public:
  // Builds and starts the server. UNAVAILABLE when the address cannot be
  // bound; INVALID_ARGUMENT for unusable options (TLS files included).
  // Logs a warning when serving plaintext on a non-loopback address and
  // when no tokens protect the mutating RPCs.
  static absl::StatusOr<std::unique_ptr<BnServer>> Start(ModelManager* manager, const ServerOptions& options);
  // Shuts down now if Shutdown was not called.
  ~BnServer();
  BnServer(const BnServer&) = delete;
  BnServer& operator=(const BnServer&) = delete;

  // The bound port.
  int port() const { return port_; }
  // The bound HTTP port; 0 without one.
  int http_port() const { return http_server_ != nullptr ? http_server_->port() : 0; }
  grpc::Server* grpc_server() { return server_.get(); }

  // Reports NOT_SERVING on every health service name, stops accepting calls,
  // lets calls in flight finish until `deadline`, cancels the rest and waits
  // for them. Idempotent.
  void Shutdown(std::chrono::system_clock::time_point deadline);

 private:
  BnServer() = default;

  ModelManager* manager_ = nullptr;
  int port_ = 0;
  std::once_flag shutdown_once_;
  // Read by every call through the service's CallEnv.
  AuthPolicy auth_;
  // Shutdown() waits for every call, then joins the pools (running any task
  // still queued) while the service is alive; the rest is destroyed in
  // reverse order: the server, then the service.
  // Declared before the services that point at it.
  std::unique_ptr<AdaptationManager> adapt_;
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<WorkerPool> recalibration_pool_;  // null: recalibration on pool_
  std::unique_ptr<BnServeService> service_;
  std::unique_ptr<OipService> oip_service_;
  std::unique_ptr<grpc::Server> server_;
  // With an HTTP port only. The HTTP server is stopped first: its handlers
  // use the rest.
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<ModelCollector> model_collector_;
  std::unique_ptr<DriftCollector> drift_collector_;
  ProcessCollector process_collector_;
  HttpEnv http_env_;
  std::unique_ptr<HttpServer> http_server_;
};

}  // namespace bnserve
