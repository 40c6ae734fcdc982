// What each path of the HTTP port means: GET /metrics (the Prometheus text
// exposition of every collectable) and the Open Inference Protocol's /v2
// routes (server/oip/oip_http.h). Authorisation follows the gRPC policy:
// /metrics and the /v2 model routes are read-only calls (a token only with
// --read-auth token), /v2/health/* is always open, as gRPC health is.
//
// Thread-safe; the pointees outlive the HTTP server.
#pragma once

#include <vector>

#include "core/serving/model_manager.h"
#include "prometheus/collectable.h"
#include "server/auth/auth_policy.h"
#include "server/http/http_message.h"
#include "server/metrics/server_metrics.h"

namespace bnserve {

struct HttpEnv {
  ModelManager* manager = nullptr;
  const AuthPolicy* auth = nullptr;  // nullptr = all open
  ServerMetrics* metrics = nullptr;  // nullptr = calls are not recorded
  std::vector<const prometheus::Collectable*> collectables;
};

HttpResponse RouteHttp(const HttpEnv& env, const HttpRequest& request);

// A JSON error body {"error": message} with `status`.
HttpResponse JsonError(int status, const std::string& message);

}  // namespace bnserve
