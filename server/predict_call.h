// Where a Predict call computes. Handing a call from gRPC's callback thread
// to the worker pool costs a thread wake-up and two context switches, tens
// of microseconds on a busy machine: more than a small model's whole
// forward pass. So a call the model's recent runs (RunCost) say will take at
// most CallEnv::inline_predict_ns is computed and finished right on the
// callback thread that received it. Everything else goes to the pool as
// every other RPC does: heavier calls (they would hold up gRPC's few
// threads), calls for a pinned statistics version (its bundle may have to
// be read from disk), calls for a model that is not served (the error path
// reads the repository), and a plan's first call (no cost known yet).
#pragma once

#include "bnserve/v1/inference.pb.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "server/call_util.h"

namespace bnserve {

// The served bundle to compute `request` with inline, or nullptr when the
// call belongs on the worker pool (see above). Reads no file, never blocks
// on anything but the model registry's short mutexes.
std::shared_ptr<const ServingBundle> InlinePredictBundle(const CallEnv& env, const v1::PredictRequest& request);

// Predict's handler body: computes inline or on the pool, then finishes.
grpc::ServerUnaryReactor* StartPredict(const CallEnv& env, grpc::CallbackServerContext* context,
                                       const v1::PredictRequest* request, v1::PredictResponse* response);

}  // namespace bnserve
