// HttpServer: bnserve's HTTP port (--metrics-listen): a cpp-httplib server
// on one host:port, over HTTPS when TLS files are given, handing every
// request, body read in full up to a size limit, to one handler function
// (server/http/http_routes.h decides what each path means). The one file
// that knows the HTTP library. Owns the library's server, its listening
// thread and its connection threads.
//
// Thread-safe: the handler is called from the connection threads
// concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "core/util/status.h"
#include "server/auth/tls_options.h"
#include "server/http/http_message.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace bnserve {

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  // host:port ([::1]:port for IPv6); port 0 picks a free port.
  std::string listen;
  // Connections served at once, each on its own thread while it is open
  // (keep-alive included); up to kQueuedConnections more wait, accepted,
  // for a thread, and further ones wait in the kernel's listen queue.
  // Scrapes are rare and HTTP inference is a side door next to gRPC, but a
  // keep-alive client holds its thread between requests; the threads only
  // read and write, the computing is bounded by the worker pool.
  int threads = 8;
  // A larger body is refused with 413 before it is read.
  int64_t max_body_bytes = 64 << 20;
  // No files = plaintext HTTP; otherwise HTTPS only, with the gRPC port's
  // certificate, key and (mutual TLS) client CA.
  TlsFiles tls;
};

class HttpServer {
 public:
  // Accepted connections that may wait for a connection thread.
  static constexpr int kQueuedConnections = 20;

  // Listens on options.listen and serves. INVALID_ARGUMENT for an address
  // that is not host:port or unusable TLS files (named by flag and file),
  // UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options, HttpHandler handler);
  // Stops accepting, waits for requests in flight; an idle keep-alive
  // connection is closed within its idle timeout (a few seconds).
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  bool tls() const { return tls_; }

 private:
  class Adapter;
  HttpServer() = default;

  int port_ = 0;
  bool tls_ = false;
  std::unique_ptr<Adapter> adapter_;
  std::unique_ptr<httplib::Server> server_;
  std::thread listener_;
};

}  // namespace bnserve
