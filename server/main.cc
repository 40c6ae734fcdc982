// bnserve: the gRPC server. Parses flags (or a TOML/INI config file, or
// BNSERVE_* environment variables), loads every model of the repository,
// serves until SIGTERM/SIGINT, then drains in-flight calls for
// --drain-seconds and exits. Optional TLS (--tls-*) and bearer-token
// authorisation (--token-file, --read-auth): see docs/security.md.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "client/openssl_lifetime.h"
#include "core/serving/model_manager.h"
#include "core/serving/stats_copy.h"
#include "core/store/file_stats_store.h"
#include "core/store/pg_stats_store.h"
#include "server/auth/auth_policy.h"
#include "server/bnserve_server.h"
#include "server/logging.h"
#include "server/shutdown_signal.h"
#include "spdlog/spdlog.h"

namespace {

struct Flags {
  std::string listen = "0.0.0.0:50051";
  std::string model_repository;
  int worker_threads = 0;
  int recalibration_threads = 1;
  int recalibration_nice = 10;
  int intra_op_threads = 1;
  std::vector<std::string> grpc_args;
  int max_message_mb = 64;
  int max_stream_batch_mb = 1024;
  int max_recalibration_streams = 2;
  std::string log_level = "info";
  std::string log_format = "text";
  double drain_seconds = 10.0;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  std::string token_file;
  std::string read_auth = "open";
  std::string stats_store = "files";
  std::string copy_stats_to;
  std::string metrics_listen;
  double drift_sample_rate = 0.0;
  bool auto_adapt = false;
};

constexpr char kSecurityFooter[] = R"(Security (docs/security.md):
  TLS: --tls-cert and --tls-key serve TLS on the gRPC port and on the HTTP
  port (--metrics-listen, then HTTPS); adding --tls-client-ca requires
  client certificates signed by that CA on both (mutual TLS). Without them
  the server speaks plaintext (a warning is logged on non-loopback addresses).
  Tokens: --token-file holds one '<role> <token>' per line, role 'admin'
  (every RPC) or 'read' (read-only RPCs); '#' comments and blank lines are
  allowed; keep it chmod 600. Clients send 'authorization: Bearer <token>'.
  Mutating RPCs (LoadModel, ReloadModel, UnloadModel, Recalibrate,
  Rollback) need an admin token; read-only RPCs need a token only with
  --read-auth token. The health service is always open. WITHOUT
  --token-file EVERY RPC, THE MUTATING ONES INCLUDED, IS OPEN.)";

void DefineFlags(CLI::App& app, Flags& flags) {
  app.set_config("--config", "", "Read flags from a TOML/INI file (key = value, keys are flag names)");
  app.add_option("--listen", flags.listen, "host:port to serve on (port 0 = any free port)")
      ->envname("BNSERVE_LISTEN")
      ->capture_default_str();
  app.add_option("--model-repository", flags.model_repository, "Directory with one <model>/model.onnx per model")
      ->envname("BNSERVE_MODEL_REPOSITORY")
      ->required();
  app.add_option("--worker-threads", flags.worker_threads,
                 "Threads computing requests (0 = one per core); also the threads one statistics pass (a "
                 "Recalibrate batch, a batch-statistics query) may use, at --recalibration-nice")
      ->envname("BNSERVE_WORKER_THREADS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--recalibration-threads", flags.recalibration_threads,
                 "Threads of the separate pool computing Recalibrate batches and commits (0 = use the workers)")
      ->envname("BNSERVE_RECALIBRATION_THREADS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--recalibration-nice", flags.recalibration_nice,
                 "CPU nice value of the recalibration threads and of the statistics-pass helpers, 0..19 (higher = "
                 "yields more to predictions)")
      ->envname("BNSERVE_RECALIBRATION_NICE")
      ->check(CLI::Range(0, 19))
      ->capture_default_str();
  app.add_option("--drift-sample-rate", flags.drift_sample_rate,
                 "Share of every model's predicted samples the drift monitor watches (0 = off; a model's "
                 "config.json \"drift\" object overrides it, docs/drift.md)")
      ->envname("BNSERVE_DRIFT_SAMPLE_RATE")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--auto-adapt", flags.auto_adapt,
                 "Let monitored models adapt their BN statistics to drifted traffic on their own: build, shadow, "
                 "promote and roll back candidates behind the guardrails of docs/drift.md (default false)")
      ->envname("BNSERVE_AUTO_ADAPT");
  app.add_option("--intra-op-threads", flags.intra_op_threads,
                 "Threads one Predict may use, its own included (1 = one per call). A call finding the extra "
                 "threads busy computes alone: for latency when few calls are in flight")
      ->envname("BNSERVE_INTRA_OP_THREADS")
      ->check(CLI::Range(1, bnserve::kMaxIntraOpThreads))
      ->capture_default_str();
  app.add_option("--grpc-arg", flags.grpc_args,
                 "A gRPC channel argument KEY=VALUE over bnserve's defaults (repeatable), e.g. "
                 "grpc.http2.lookahead_bytes=1048576 (default 262144: how far gRPC reads ahead of each stream)")
      ->envname("BNSERVE_GRPC_ARGS")
      ->delimiter(',');
  app.add_option("--max-message-mb", flags.max_message_mb, "Largest gRPC message received or sent, in MiB")
      ->envname("BNSERVE_MAX_MESSAGE_MB")
      ->check(CLI::Range(1, 2047))
      ->capture_default_str();
  app.add_option("--max-stream-batch-mb", flags.max_stream_batch_mb,
                 "Largest batch GetBatchStatsStream assembles from chunks, in MiB")
      ->envname("BNSERVE_MAX_STREAM_BATCH_MB")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--max-recalibration-streams", flags.max_recalibration_streams,
                 "Concurrent Recalibrate streams per model")
      ->envname("BNSERVE_MAX_RECALIBRATION_STREAMS")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--log-level", flags.log_level, "trace, debug, info, warn, error, critical or off")
      ->envname("BNSERVE_LOG_LEVEL")
      ->capture_default_str();
  app.add_option("--log-format", flags.log_format, "text or json (one JSON object per line)")
      ->envname("BNSERVE_LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--drain-seconds", flags.drain_seconds,
                 "On SIGTERM/SIGINT, how long in-flight calls may run before they are cancelled")
      ->envname("BNSERVE_DRAIN_SECONDS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--tls-cert", flags.tls_cert, "PEM certificate chain of the server (serve TLS; needs --tls-key)")
      ->envname("BNSERVE_TLS_CERT");
  app.add_option("--tls-key", flags.tls_key, "PEM private key of --tls-cert")->envname("BNSERVE_TLS_KEY");
  app.add_option("--tls-client-ca", flags.tls_client_ca,
                 "PEM CA bundle: require client certificates signed by it (mutual TLS)")
      ->envname("BNSERVE_TLS_CLIENT_CA");
  app.add_option("--token-file", flags.token_file,
                 "Bearer tokens, one '<role> <token>' per line (role admin or read); none = no authorisation")
      ->envname("BNSERVE_TOKEN_FILE");
  app.add_option("--read-auth", flags.read_auth,
                 "Whether read-only RPCs need a token: open or token (mutating RPCs always do with --token-file)")
      ->envname("BNSERVE_READ_AUTH")
      ->check(CLI::IsMember({"open", "token"}))
      ->capture_default_str();
  app.add_option("--stats-store", flags.stats_store,
                 "Where statistics versions live: 'files' (each model's stats/ folder, one replica) or a PostgreSQL "
                 "URI postgresql://user@host:port/dbname?sslmode=... shared by every replica (password from "
                 "PGPASSWORD or ~/.pgpass; docs/stats-store-postgresql.md)")
      ->envname("BNSERVE_STATS_STORE")
      ->capture_default_str();
  app.add_option("--copy-stats-to", flags.copy_stats_to,
                 "Copy every model's statistics history from --stats-store to this store ('files' or a postgresql:// "
                 "URI; it must hold no versions yet), print what was copied and exit instead of serving");
  app.add_option("--metrics-listen", flags.metrics_listen,
                 "host:port of the HTTP port serving Prometheus /metrics and the Open Inference Protocol's /v2 "
                 "routes, HTTPS with --tls-cert (port 0 = any free port; none = off, docs/metrics.md)")
      ->envname("BNSERVE_METRICS_LISTEN");
  app.footer(kSecurityFooter);
}

// The statistics stores --stats-store (or --copy-stats-to) names.
absl::StatusOr<std::unique_ptr<bnserve::StatsStoreProvider>> MakeStatsStores(const std::string& spec) {
  if (spec == "files") return std::make_unique<bnserve::FileStatsStoreProvider>(bnserve::DefaultFileSystem());
  if (!absl::StartsWith(spec, "postgresql://") && !absl::StartsWith(spec, "postgres://")) {
    // The value is not repeated: it may hold a secret.
    return absl::InvalidArgumentError("--stats-store: expected 'files' or a postgresql:// URI");
  }
  bnserve::PgStatsStoreOptions options;
  options.conninfo = spec;
  BN_ASSIGN_OR_RETURN(std::unique_ptr<bnserve::PgStatsStoreProvider> provider,
                      bnserve::PgStatsStoreProvider::Create(std::move(options)));
  return std::unique_ptr<bnserve::StatsStoreProvider>(std::move(provider));
}

// --copy-stats-to: one line per model copied; exit code 0, or 1 on failure.
int CopyStats(const Flags& flags, bnserve::StatsStoreProvider& from) {
  absl::StatusOr<std::unique_ptr<bnserve::StatsStoreProvider>> to = MakeStatsStores(flags.copy_stats_to);
  absl::StatusOr<std::vector<bnserve::ModelStatsCopy>> copies =
      to.ok() ? bnserve::CopyRepositoryStats(bnserve::DefaultFileSystem(), flags.model_repository, from, **to)
              : to.status();
  if (!copies.ok()) {
    spdlog::critical("event=stats_copy_failed from=\"{}\" error=\"{}\"", from.description(),
                     std::string(copies.status().message()));
    return 1;
  }
  for (const bnserve::ModelStatsCopy& copy : *copies) {
    std::printf("%s: %lld versions copied from %s to %s\n", copy.model.c_str(), static_cast<long long>(copy.versions),
                from.description().c_str(), (*to)->description().c_str());
    for (const std::string& line : copy.renumbered) std::printf("%s:   %s\n", copy.model.c_str(), line.c_str());
  }
  return 0;
}

int Run(const Flags& flags) {
  if (absl::Status status = bnserve::ConfigureLogging(flags.log_level, flags.log_format); !status.ok()) {
    std::fprintf(stderr, "bnserve: %s\n", std::string(status.message()).c_str());
    return 2;
  }
  absl::StatusOr<bnserve::ReadAuth> read_auth = bnserve::ParseReadAuth(flags.read_auth);
  absl::StatusOr<bnserve::AuthPolicy> auth =
      read_auth.ok() ? bnserve::AuthPolicy::FromFlags(flags.token_file, *read_auth) : read_auth.status();
  if (!auth.ok()) {
    spdlog::critical("event=startup_failed error=\"{}\"", std::string(auth.status().message()));
    return 2;
  }
  // Declared before the manager, so it outlives it (a database store's
  // listener thread calls into the models).
  absl::StatusOr<std::unique_ptr<bnserve::StatsStoreProvider>> stats_stores = MakeStatsStores(flags.stats_store);
  if (!stats_stores.ok()) {
    spdlog::critical("event=startup_failed error=\"{}\"", std::string(stats_stores.status().message()));
    return 2;
  }
  spdlog::info("event=stats_store store=\"{}\"", (*stats_stores)->description());
  if (!flags.copy_stats_to.empty()) return CopyStats(flags, **stats_stores);
  bnserve::ModelManagerOptions manager_options;
  manager_options.repository = flags.model_repository;
  manager_options.stats_stores = stats_stores->get();
  manager_options.max_recalibration_streams = flags.max_recalibration_streams;
  // A statistics pass (one recalibration stream's batch, a batch-statistics
  // query) may use as many threads as requests may.
  manager_options.statistics_threads = bnserve::ResolveWorkerThreads(flags.worker_threads);
  manager_options.statistics_nice = flags.recalibration_nice;
  manager_options.intra_op_threads = flags.intra_op_threads;
  manager_options.drift.sample_rate = flags.drift_sample_rate;
  manager_options.drift.auto_adapt = flags.auto_adapt;
  absl::StatusOr<std::unique_ptr<bnserve::ModelManager>> manager = bnserve::ModelManager::Create(manager_options);
  if (!manager.ok()) {
    spdlog::critical("event=startup_failed error=\"{}\"", std::string(manager.status().message()));
    return 1;
  }
  (*manager)->LoadAll();

  bnserve::ServerOptions server_options;
  server_options.listen = flags.listen;
  server_options.worker_threads = flags.worker_threads;
  server_options.recalibration_threads = flags.recalibration_threads;
  server_options.recalibration_nice = flags.recalibration_nice;
  for (const std::string& text : flags.grpc_args) {
    absl::StatusOr<std::pair<std::string, std::string>> arg = bnserve::ParseGrpcArg(text, "--grpc-arg");
    if (!arg.ok()) {
      spdlog::critical("event=startup_failed error=\"{}\"", std::string(arg.status().message()));
      return 2;
    }
    server_options.grpc_args[arg->first] = arg->second;
  }
  server_options.limits.max_message_bytes = int64_t{flags.max_message_mb} << 20;
  server_options.limits.max_stream_batch_bytes = int64_t{flags.max_stream_batch_mb} << 20;
  server_options.tls = bnserve::TlsFiles{flags.tls_cert, flags.tls_key, flags.tls_client_ca};
  server_options.auth = *std::move(auth);
  server_options.http_listen = flags.metrics_listen;
  absl::StatusOr<std::unique_ptr<bnserve::BnServer>> server = bnserve::BnServer::Start(manager->get(), server_options);
  if (!server.ok()) {
    spdlog::critical("event=startup_failed error=\"{}\"", std::string(server.status().message()));
    return 1;
  }

  const int signal_number = bnserve::WaitForShutdownSignal();
  spdlog::info("event=shutdown_requested signal={} drain_seconds={}", signal_number == SIGTERM ? "SIGTERM" : "SIGINT",
               flags.drain_seconds);
  const auto drain = std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::duration<double>(flags.drain_seconds));
  (*server)->Shutdown(std::chrono::system_clock::now() + drain);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Before any thread exists, so that every thread inherits the mask and
  // only sigwait in Run sees these signals.
  bnserve::BlockShutdownSignals();
  bnserve::client::KeepOpenSslUntilProcessExit();
  CLI::App app{"bnserve: gRPC serving of BatchNorm networks with versioned, recalibratable statistics"};
  Flags flags;
  DefineFlags(app, flags);
  CLI11_PARSE(app, argc, argv);
  return Run(flags);
}
