// The server's transport security: TLS files from --tls-cert, --tls-key and
// --tls-client-ca turned into gRPC server credentials (the gRPC port) and
// into an OpenSSL context (the HTTP port), checked up front so that a wrong
// file is reported by name instead of as a failed bind or handshake. Both
// ports get the same certificate, key and client CA.
// Stateless functions; thread-safe.
#pragma once

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "core/util/status.h"
#include "grpcpp/security/server_credentials.h"
#include "openssl/types.h"

namespace bnserve {

struct TlsFiles {
  // PEM certificate chain and private key of the server; both or neither.
  std::string cert;
  std::string key;
  // PEM CA bundle for client certificates; set = mutual TLS (a client
  // without a certificate signed by it is refused). Needs cert and key.
  std::string client_ca;

  bool enabled() const { return !cert.empty() || !key.empty() || !client_ca.empty(); }
};

// Insecure credentials when no file is set; otherwise TLS credentials after
// checking that the files exist and parse and that the key belongs to the
// certificate. INVALID_ARGUMENT naming the flag and file, NOT_FOUND for a
// missing file.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const TlsFiles& files);

// Sets up `context` (a fresh SSL_CTX) to serve TLS as the gRPC port does:
// the certificate chain and key of `files` (same checks and errors as
// MakeServerCredentials), TLS 1.2 or later, and with a client CA a client
// certificate signed by it is required. REQUIRES: files.enabled().
absl::Status ConfigureServerTlsContext(const TlsFiles& files, SSL_CTX* context);

// Whether `listen` (host:port) only accepts connections from this machine:
// localhost, 127.0.0.0/8 or [::1]. 0.0.0.0, [::] and other hosts are not.
bool IsLoopbackListenAddress(absl::string_view listen);

}  // namespace bnserve
