// The Open Inference Protocol's HTTP/JSON routes on bnserve's HTTP port:
//   GET  /v2/health/live, /v2/health/ready      always open
//   GET  /v2                                    server metadata
//   GET  /v2/models/{name}[/versions/{v}]       model metadata
//   GET  /v2/models/{name}[/versions/{v}]/ready 200 when ready, 400 when not
//   POST /v2/models/{name}[/versions/{v}]/infer JSON tensors in, JSON out
// Each is translated into the protocol's protobuf request and answered by
// the same oip_requests.h function as the gRPC service, so both flavours
// (and bnserve.v1's Predict) compute alike. Errors are {"error": "..."}
// naming the field, with the HTTP status of the gRPC code (400 invalid
// argument, 404 not found, 401/403 authorisation, 503 unavailable, ...).
//
// Thread-safe.
#pragma once

#include "server/http/http_message.h"
#include "server/http/http_routes.h"

namespace bnserve {

HttpResponse RouteOipHttp(const HttpEnv& env, const HttpRequest& request);

// The HTTP status that carries a gRPC-style status code.
int HttpStatusFromCode(absl::StatusCode code);

}  // namespace bnserve
