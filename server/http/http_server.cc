#include "server/http/http_server.h"

#include <exception>
#include <vector>

#include "CivetServer.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace bnserve {
namespace {

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 429:
      return "Too Many Requests";
    case 499:
      return "Client Closed Request";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

void Send(mg_connection* connection, const HttpResponse& response) {
  const std::string head = absl::StrCat("HTTP/1.1 ", response.status, " ", ReasonPhrase(response.status),
                                        "\r\nContent-Type: ", response.content_type,
                                        "\r\nContent-Length: ", response.body.size(), "\r\n\r\n");
  mg_write(connection, head.data(), head.size());
  mg_write(connection, response.body.data(), response.body.size());
}

}  // namespace

// The one civetweb handler, registered on "/" (every path): reads the
// request into an HttpRequest, calls the handler and writes its answer.
class HttpServer::Adapter : public CivetHandler {
 public:
  Adapter(int64_t max_body_bytes, HttpHandler handler)
      : max_body_bytes_(max_body_bytes), handler_(std::move(handler)) {}

  bool Handle(const char* method, mg_connection* connection) {
    const mg_request_info* info = mg_get_request_info(connection);
    HttpRequest request;
    request.method = method;
    request.path = info->local_uri != nullptr ? info->local_uri : "";
    if (const char* authorization = mg_get_header(connection, "Authorization"); authorization != nullptr) {
      request.authorization = authorization;
    }
    if (info->content_length > max_body_bytes_) {
      Send(connection, {413, "application/json",
                        absl::StrCat(R"({"error":"request body of )", info->content_length,
                                     R"( bytes exceeds the server's limit of )", max_body_bytes_, R"( bytes"})")});
      return true;
    }
    char buffer[1 << 16];
    for (int n; (n = mg_read(connection, buffer, sizeof(buffer))) > 0;) {
      request.body.append(buffer, static_cast<size_t>(n));
      if (static_cast<int64_t>(request.body.size()) > max_body_bytes_) {
        Send(connection, {413, "application/json",
                          absl::StrCat(R"({"error":"request body exceeds the server's limit of )", max_body_bytes_,
                                       R"( bytes"})")});
        return true;
      }
    }
    // Exceptions never leave this module: a throwing handler is a 500.
    HttpResponse response;
    try {
      response = handler_(request);
    } catch (const std::exception& e) {
      spdlog::error("event=http_handler_failed path={} error=\"{}\"", request.path, e.what());
      response = {500, "application/json", R"({"error":"internal error"})"};
    }
    Send(connection, response);
    return true;
  }
  bool handleGet(CivetServer* server, mg_connection* connection) override { return Handle("GET", connection); }
  bool handlePost(CivetServer* server, mg_connection* connection) override { return Handle("POST", connection); }

 private:
  const int64_t max_body_bytes_;
  const HttpHandler handler_;
};

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& listen, int threads,
                                                              int64_t max_body_bytes, HttpHandler handler) {
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->adapter_ = std::make_unique<Adapter>(max_body_bytes, std::move(handler));
  const std::vector<std::string> options = {"listening_ports", listen, "num_threads", std::to_string(threads)};
  try {
    server->server_ = std::make_unique<CivetServer>(options);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("could not serve HTTP on ", listen, ": ", e.what(),
                                               " (address in use, or not a valid host:port)"));
  }
  server->server_->addHandler("/", server->adapter_.get());
  const std::vector<int> ports = server->server_->getListeningPorts();
  if (ports.empty() || ports[0] <= 0) {
    return absl::UnavailableError(absl::StrCat("could not serve HTTP on ", listen, ": no port bound"));
  }
  server->port_ = ports[0];
  return server;
}

HttpServer::~HttpServer() {
  if (server_ != nullptr) server_->close();
}

}  // namespace bnserve
