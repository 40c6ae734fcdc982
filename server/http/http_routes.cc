#include "server/http/http_routes.h"

#include <sstream>

#include "absl/strings/match.h"
#include "nlohmann/json.hpp"
#include "prometheus/text_serializer.h"
#include "server/oip/oip_http.h"

namespace bnserve {
namespace {

// The text exposition format, version 0.0.4.
HttpResponse Metrics(const HttpEnv& env) {
  std::vector<prometheus::MetricFamily> families;
  for (const prometheus::Collectable* collectable : env.collectables) {
    std::vector<prometheus::MetricFamily> collected = collectable->Collect();
    families.insert(families.end(), std::make_move_iterator(collected.begin()),
                    std::make_move_iterator(collected.end()));
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return {200, "text/plain; version=0.0.4; charset=utf-8", out.str()};
}

}  // namespace

HttpResponse JsonError(int status, const std::string& message) {
  return {status, "application/json", nlohmann::json{{"error", message}}.dump()};
}

HttpResponse RouteHttp(const HttpEnv& env, const HttpRequest& request) {
  if (request.path == "/metrics") {
    if (request.method != "GET") return JsonError(405, "/metrics: expected GET, got " + request.method);
    if (env.auth != nullptr) {
      if (absl::Status allowed = env.auth->Check("ListModels", request.authorization); !allowed.ok()) {
        return JsonError(HttpStatusFromCode(allowed.code()), std::string(allowed.message()));
      }
    }
    return Metrics(env);
  }
  if (absl::StartsWith(request.path, "/v2")) return RouteOipHttp(env, request);
  return JsonError(404, "no such path: " + request.path + " (expected /metrics or /v2/...)");
}

}  // namespace bnserve
