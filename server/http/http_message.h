// The HTTP request and response as bnserve's HTTP routes see them: plain
// values, independent of the web server library, so the routes are tested
// without a socket.
#pragma once

#include <optional>
#include <string>

namespace bnserve {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // URL-decoded, without the query string
  std::optional<std::string> authorization;
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

}  // namespace bnserve
