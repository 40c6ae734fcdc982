// Where a Predict call computes. A call ModelManager::TryPredictInline finds
// quick and non-blocking (the served version of an available model whose
// recent runs were short) is computed and finished right on the gRPC callback
// thread that received it, skipping the hop to a worker. Everything else goes
// to the worker pool as every other RPC does: heavier calls (they would hold
// up gRPC's few threads), calls for a pinned statistics version (its bundle
// may have to be read from disk), calls for a model that is not served (the
// error path reads the repository), and a plan's first call (no cost known
// yet).
#pragma once

#include "bnserve/v1/inference.pb.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "server/call_util.h"

namespace bnserve {

// Predict's handler body: computes inline or on the pool, then finishes.
grpc::ServerUnaryReactor* StartPredict(const CallEnv& env, grpc::CallbackServerContext* context,
                                       const v1::PredictRequest* request, v1::PredictResponse* response);

}  // namespace bnserve
