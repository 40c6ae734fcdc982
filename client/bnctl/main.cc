// bnctl: the command line to look inside a running bnserve (models, running
// and batch statistics, predictions, evaluation, recalibration, versions).
// Parses the command line, connects, runs the one chosen command and prints
// its table or, with --json, its JSON view. See client/README.md.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/bnctl/commands/command.h"
#include "client/bnctl/format.h"
#include "client/bnctl/interrupt.h"
#include "client/client.h"
#include "client/file_bytes.h"
#include "client/openssl_lifetime.h"
#include "core/util/status.h"

namespace bnserve::client {
namespace {

// Exit codes, by class of failure (documented in --help and README.md).
constexpr int kExitFailure = 1;      // the server refused or failed the request
constexpr int kExitUsage = 2;        // bad command line or input data
constexpr int kExitUnavailable = 3;  // server unreachable, unavailable or too slow

constexpr char kFooter[] = R"(Exit codes: 0 success; 1 the request failed (or health: not SERVING);
2 bad command line or input data (INVALID_ARGUMENT); 3 server unreachable or UNAVAILABLE.
Errors are one line on stderr: "error: <GRPC_CODE>: <message>".
--json prints one JSON object with stable snake_case fields (client/README.md); a --watch prints
one per line, per update. A --watch runs until Ctrl-C, which ends it with exit code 0.
Security: --tls (system roots) or --tls-ca FILE for TLS, plus --tls-cert/--tls-key for mutual TLS;
the bearer token comes from --token, --token-file or $BNSERVE_TOKEN (docs/security.md).)";

struct GlobalOptions {
  std::string server = "localhost:50051";
  double timeout_seconds = 30;
  bool json = false;
  bool tls = false;
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_server_name;
  std::string token;
  std::string token_file;
};

// The bearer token: --token, else the contents of --token-file (surrounding
// whitespace trimmed), else $BNSERVE_TOKEN; empty = none. INVALID_ARGUMENT
// naming the source when it is not one token gRPC metadata can carry.
absl::StatusOr<std::string> ResolveToken(const GlobalOptions& global) {
  std::string token;
  std::string source;
  if (!global.token.empty()) {
    token = global.token;
    source = "--token";
  } else if (!global.token_file.empty()) {
    BN_ASSIGN_OR_RETURN(std::string contents, ReadFileBytes(global.token_file));
    token = std::string(absl::StripAsciiWhitespace(contents));
    source = absl::StrCat("--token-file ", global.token_file);
    if (token.empty()) return absl::InvalidArgumentError(absl::StrCat(source, ": empty"));
  } else if (const char* env = std::getenv("BNSERVE_TOKEN"); env != nullptr) {
    token = env;
    source = "$BNSERVE_TOKEN";
  }
  for (char c : token) {
    if (c <= 0x20 || c >= 0x7f) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": expected one token (printable ASCII, no spaces or line breaks)"));
    }
  }
  return token;
}

void AddGlobalOptions(CLI::App* app, GlobalOptions* global) {
  app->add_option("--server,-s", global->server, "bnserve address HOST:PORT")
      ->envname("BNSERVE_ADDR")
      ->capture_default_str();
  app->add_option("--timeout", global->timeout_seconds, "Deadline of each call, in seconds")
      ->check(PositiveSeconds())
      ->capture_default_str();
  app->add_flag("--json", global->json, "Print JSON instead of tables");
  app->add_flag("--tls", global->tls, "Connect with TLS");
  app->add_option("--tls-ca", global->tls_ca, "PEM roots to verify the server with (default: system roots)");
  app->add_option("--tls-cert", global->tls_cert, "PEM client certificate (mutual TLS)");
  app->add_option("--tls-key", global->tls_key, "PEM client private key (mutual TLS)");
  app->add_option("--tls-server-name", global->tls_server_name, "Name expected in the server certificate");
  // No envname on --token: $BNSERVE_TOKEN is read in ResolveToken, after
  // --token-file, so that the two flags can exclude each other.
  CLI::Option* token = app->add_option("--token", global->token,
                                       "Bearer token sent with every call (visible in ps: prefer --token-file or "
                                       "BNSERVE_TOKEN)");
  app->add_option("--token-file", global->token_file, "File holding the bearer token")->excludes(token);
}

absl::StatusOr<ClientOptions> MakeClientOptions(const GlobalOptions& global) {
  ClientOptions options;
  options.address = global.server;
  options.timeout = absl::Seconds(global.timeout_seconds);
  options.use_tls = global.tls || !global.tls_ca.empty() || !global.tls_cert.empty();
  options.tls_server_name = global.tls_server_name;
  BN_ASSIGN_OR_RETURN(options.bearer_token, ResolveToken(global));
  if (!global.tls_ca.empty()) {
    BN_ASSIGN_OR_RETURN(options.tls_root_certs_pem, ReadFileBytes(global.tls_ca));
  }
  if (!global.tls_cert.empty()) {
    BN_ASSIGN_OR_RETURN(options.tls_client_cert_pem, ReadFileBytes(global.tls_cert));
  }
  if (!global.tls_key.empty()) {
    BN_ASSIGN_OR_RETURN(options.tls_client_key_pem, ReadFileBytes(global.tls_key));
  }
  return options;
}

// Prints the one error line and picks the exit code.
int ReportError(const absl::Status& status, const std::string& address) {
  const std::string code = absl::StatusCodeToString(status.code());
  if (IsUnreachable(status)) {
    std::cerr << "error: cannot reach bnserve at " << address << " (" << code << "): is the server running?\n";
    return kExitUnavailable;
  }
  std::cerr << "error: " << code << ": " << status.message() << "\n";
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return kExitUsage;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUnavailable;
    default:
      return kExitFailure;
  }
}

// A watch: each update redrawn in place on a terminal (ANSI clear screen),
// or printed one after the other, each under a "--- update N" line, when
// stdout is a file or a pipe; with --json one compact JSON object per line.
// Ctrl-C ends the call; that is a success.
int RunWatch(const Command& command, const Client& client, const GlobalOptions& global) {
  CallCanceller stop;
  InterruptWatcher interrupt([&stop] { stop.Cancel(); });
  const bool terminal = isatty(STDOUT_FILENO) == 1;
  int64_t updates = 0;
  const absl::Status status = command.watch(client, &stop, [&](const CommandResult& update) {
    ++updates;
    if (global.json) {
      std::cout << update.json.dump() << "\n";
    } else if (terminal) {
      std::cout << "\x1b[H\x1b[2J" << update.text;
    } else {
      std::cout << (updates > 1 ? "\n" : "") << "--- update " << updates << " at "
                << FormatUnixMs(absl::ToUnixMillis(absl::Now())) << "\n"
                << update.text;
    }
    std::cout << std::flush;
  });
  if (!status.ok()) return ReportError(status, global.server);
  return 0;
}

int Run(int argc, char** argv) {
  CLI::App app("bnctl: look inside a running bnserve (BatchNorm statistics, predictions, recalibration)", "bnctl");
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand
  app.footer(kFooter);
  GlobalOptions global;
  AddGlobalOptions(&app, &global);
  std::vector<Command> commands;
  AddModelCommands(&app, &commands);
  AddStatsCommand(&app, &commands);
  AddBatchStatsCommand(&app, &commands);
  AddMomentsCommand(&app, &commands);
  AddPredictCommand(&app, &commands);
  AddEvaluateCommand(&app, &commands);
  AddRecalibrateCommand(&app, &commands);
  AddVersionCommands(&app, &commands);
  AddDriftCommands(&app, &commands);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::cerr << "error: usage: " << e.what() << " (see bnctl --help)\n";
    return kExitUsage;
  }
  absl::StatusOr<ClientOptions> options = MakeClientOptions(global);
  if (!options.ok()) return ReportError(options.status(), global.server);
  const Client client(*std::move(options));
  for (const Command& command : commands) {
    if (!command.app->parsed()) continue;
    if (command.watch && command.watching && command.watching()) return RunWatch(command, client, global);
    absl::StatusOr<CommandResult> result = command.action(client);
    if (!result.ok()) return ReportError(result.status(), global.server);
    if (global.json) {
      std::cout << result->json.dump(2) << "\n";
    } else {
      std::cout << result->text;
    }
    return result->exit_code;
  }
  return kExitUsage;  // unreachable: require_subcommand(1)
}

}  // namespace
}  // namespace bnserve::client

int main(int argc, char** argv) {
  // gRPC logs its own connection diagnostics to stderr; bnctl reports one
  // line per failure instead. The variable is read when gRPC initializes
  // (the first channel), so it is set first; a user's own setting wins.
  setenv("GRPC_VERBOSITY", "NONE", /*overwrite=*/0);
  bnserve::client::KeepOpenSslUntilProcessExit();
  return bnserve::client::Run(argc, argv);
}
