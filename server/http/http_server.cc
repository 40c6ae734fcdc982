#include "server/http/http_server.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "httplib.h"
#include "spdlog/spdlog.h"

namespace bnserve {
namespace {

// The port's limits:
// - a connection that sends or reads nothing for 30 s is dropped; the TLS
//   handshake has the same bound;
constexpr time_t kReadWriteTimeoutSeconds = 30;
// - keep-alive: a connection stays open for up to 1000 requests and 2 s
//   idle, so that HTTPS clients do not pay a handshake (several times the
//   cost of a small infer) per request, nor often; the idle bound limits how
//   long a quiet client holds a connection thread and how long shutdown
//   waits for one, the count how long a busy one does;
constexpr size_t kKeepAliveMaxRequests = 1000;
constexpr time_t kKeepAliveIdleSeconds = 2;
// - the request line and each header: the library's compiled-in 8 KiB; the
//   path, which the library matches with std::regex (one recursion per
//   character: a long path could exhaust a thread's stack), is refused above
//   1 KiB, far above any route (model names are at most 255 bytes).
constexpr size_t kMaxPathBytes = 1024;
// Every path reaches the one handler.
constexpr char kEveryPath[] = ".*";

// The connection threads: at most `threads` connections served at once,
// and at most HttpServer::kQueuedConnections accepted ones waiting (the
// listening thread blocks when that many wait), so that a flood of
// connections cannot take every file descriptor of the process.
// The threads are std::threads of this binary (default stack size).
class ConnectionThreads final : public httplib::TaskQueue {
 public:
  explicit ConnectionThreads(int threads)
      : free_slots_(threads + HttpServer::kQueuedConnections), pool_(static_cast<size_t>(threads)) {}

  void enqueue(std::function<void()> serve_connection) override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      slot_freed_.wait(lock, [this] { return free_slots_ > 0; });
      --free_slots_;
    }
    pool_.enqueue([this, serve_connection = std::move(serve_connection)] {
      serve_connection();
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++free_slots_;
      }
      slot_freed_.notify_one();
    });
  }

  void shutdown() override { pool_.shutdown(); }

 private:
  std::mutex mu_;
  std::condition_variable slot_freed_;
  int free_slots_;  // guarded by mu_
  httplib::ThreadPool pool_;
};

// host and port of "host:port" or "[v6]:port".
absl::Status SplitListenAddress(const std::string& listen, std::string* host, int* port) {
  const size_t colon = listen.rfind(':');
  int parsed = -1;
  if (colon == std::string::npos || colon == 0 || !absl::SimpleAtoi(listen.substr(colon + 1), &parsed) ||
      parsed < 0 || parsed > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP listen address: expected host:port with a port from 0 to 65535, got \"", listen, "\""));
  }
  *host = listen.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  *port = parsed;
  return absl::OkStatus();
}

std::string JsonErrorBody(const std::string& message) { return absl::StrCat(R"({"error":")", message, R"("})"); }

}  // namespace

// Turns the library's requests into HttpRequests and the handler's
// HttpResponses back; reads bodies up to the limit.
class HttpServer::Adapter {
 public:
  Adapter(int64_t max_body_bytes, HttpHandler handler)
      : max_body_bytes_(max_body_bytes), handler_(std::move(handler)) {}

  // `body` is null for requests without one (GET, ...). Exceptions never
  // leave this module: one thrown while reading or handling is a 500.
  void Serve(const httplib::Request& in, httplib::Response& out, const httplib::ContentReader* body) const {
    HttpResponse response;
    try {
      response = Handle(in, out, body);
    } catch (const std::exception& e) {
      spdlog::error("event=http_handler_failed path={} error=\"{}\"", in.path, e.what());
      response = {500, "application/json", JsonErrorBody("internal error")};
    }
    out.status = response.status;
    out.set_content(response.body, response.content_type);
  }

 private:
  HttpResponse Handle(const httplib::Request& in, const httplib::Response& out,
                      const httplib::ContentReader* body) const {
    HttpRequest request;
    request.method = in.method;
    request.path = in.path;
    if (in.has_header("Authorization")) request.authorization = in.get_header_value("Authorization");
    if (body != nullptr) {
      bool too_large = false;
      const bool read = (*body)([&](const char* data, size_t size) {
        if (static_cast<int64_t>(request.body.size() + size) > max_body_bytes_) {
          too_large = true;
          return false;
        }
        request.body.append(data, size);
        return true;
      });
      if (!read) {
        // The library refuses a Content-Length over the limit itself (413
        // in out.status); a chunked or compressed body is stopped here.
        if (too_large || out.status == 413) {
          return {413, "application/json",
                  JsonErrorBody(absl::StrCat("request body exceeds the server's limit of ", max_body_bytes_, " bytes"))};
        }
        return {400, "application/json", JsonErrorBody("could not read the request body")};
      }
    }
    return handler_(request);
  }

  const int64_t max_body_bytes_;
  const HttpHandler handler_;
};

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options, HttpHandler handler) {
  std::string host;
  int port = 0;
  BN_RETURN_IF_ERROR(SplitListenAddress(options.listen, &host, &port));
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->tls_ = options.tls.enabled();
  if (server->tls_) {
    absl::Status configured;
    auto https = std::make_unique<httplib::SSLServer>([&](SSL_CTX& context) {
      configured = ConfigureServerTlsContext(options.tls, &context);
      return configured.ok();
    });
    if (!https->is_valid()) {
      return configured.ok() ? absl::InternalError("TLS context: could not be created") : configured;
    }
    server->server_ = std::move(https);
  } else {
    server->server_ = std::make_unique<httplib::Server>();
  }
  httplib::Server& http = *server->server_;
  server->adapter_ = std::make_unique<Adapter>(options.max_body_bytes, std::move(handler));
  const Adapter* adapter = server->adapter_.get();

  const int threads = options.threads;
  http.new_task_queue = [threads] { return new ConnectionThreads(threads); };
  // Without it, a response whose head and body go out in two writes waits
  // for the client's delayed ACK (Nagle's algorithm): about 40 ms a request.
  http.set_tcp_nodelay(true);
  http.set_read_timeout(kReadWriteTimeoutSeconds);
  http.set_write_timeout(kReadWriteTimeoutSeconds);
  http.set_keep_alive_max_count(kKeepAliveMaxRequests);
  http.set_keep_alive_timeout(kKeepAliveIdleSeconds);
  http.set_payload_max_length(static_cast<size_t>(options.max_body_bytes));
  http.set_pre_routing_handler([](const httplib::Request& in, httplib::Response& out) {
    if (in.path.size() <= kMaxPathBytes) return httplib::Server::HandlerResponse::Unhandled;
    out.status = 414;
    out.set_content(JsonErrorBody(absl::StrCat("path of ", in.path.size(), " bytes exceeds the limit of ",
                                               kMaxPathBytes, " bytes")),
                    "application/json");
    return httplib::Server::HandlerResponse::Handled;
  });
  // Requests the library refuses before any handler (a malformed request
  // line or header) get a JSON body too.
  http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& out) {
    if (!out.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    out.set_content(JsonErrorBody(absl::StrCat("malformed or oversized HTTP request (status ", out.status, ")")),
                    "application/json");
    return httplib::Server::HandlerResponse::Handled;
  }));
  const auto without_body = [adapter](const httplib::Request& in, httplib::Response& out) {
    adapter->Serve(in, out, nullptr);
  };
  const auto with_body = [adapter](const httplib::Request& in, httplib::Response& out,
                                   const httplib::ContentReader& body) { adapter->Serve(in, out, &body); };
  // Every method reaches the handler, which answers 405 where it must.
  http.Get(kEveryPath, without_body);
  http.Options(kEveryPath, without_body);
  http.Delete(kEveryPath, without_body);
  http.Post(kEveryPath, with_body);
  http.Put(kEveryPath, with_body);
  http.Patch(kEveryPath, with_body);
  http.Delete(kEveryPath, with_body);

  server->port_ = port == 0 ? http.bind_to_any_port(host) : (http.bind_to_port(host, port) ? port : -1);
  if (server->port_ <= 0) {
    return absl::UnavailableError(absl::StrCat("could not serve HTTP on ", options.listen,
                                               " (address in use, or not an address of this host)"));
  }
  auto listen_ended = std::make_shared<std::atomic<bool>>(false);
  server->listener_ = std::thread([&http, listen_ended, listen = options.listen] {
    if (!http.listen_after_bind()) {
      spdlog::error("event=http_listen_failed listen={} detail=\"accepting connections failed; the HTTP port is closed\"",
                    listen);
    }
    *listen_ended = true;
  });
  // stop() does nothing until the listening loop runs: wait for it, so that
  // the destructor always ends it.
  while (!http.is_running() && !*listen_ended) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return server;
}

HttpServer::~HttpServer() {
  if (listener_.joinable()) {
    server_->stop();
    listener_.join();
  }
}

}  // namespace bnserve
