// HttpServer: bnserve's HTTP port (--metrics-listen): a civetweb server on
// one host:port handing every request, body read in full up to a size
// limit, to one handler function (server/http/http_routes.h decides what
// each path means). Owns the civetweb context and its threads.
//
// Thread-safe: the handler is called from civetweb's threads concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/util/status.h"
#include "server/http/http_message.h"

class CivetServer;

namespace bnserve {

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class HttpServer {
 public:
  // Listens on `listen` (host:port, port 0 = a free port) and serves with
  // `threads` threads. UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& listen, int threads,
                                                           int64_t max_body_bytes, HttpHandler handler);
  // Stops accepting, waits for requests in flight.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }

 private:
  class Adapter;
  HttpServer() = default;

  int port_ = 0;
  std::unique_ptr<Adapter> adapter_;
  std::unique_ptr<CivetServer> server_;
};

}  // namespace bnserve
