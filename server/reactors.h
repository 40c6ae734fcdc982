// The streaming RPCs' reactors (gRPC callback API). Each is a small class in
// its own .cc that owns one stream's state, does its work on the worker pool
// and deletes itself in OnDone; these factories are what the service calls.
#pragma once

#include "bnserve/v1/bnserve_service.grpc.pb.h"
#include "server/call_util.h"
#include "server/grpc_handoff.h"

namespace bnserve {

// PredictStream: one response per request, in order; the first failing
// request ends the stream with its error.
grpc::ServerBidiReactor<v1::PredictRequest, v1::PredictResponse>* NewPredictStreamReactor(
    const CallEnv& env, grpc::CallbackServerContext* context);

// GetBatchStatsStream: assembles the chunks, computes at the end of stream.
grpc::ServerReadReactor<v1::GetBatchStatsRequest>* NewBatchStatsStreamReactor(const CallEnv& env,
                                                                              grpc::CallbackServerContext* context,
                                                                              v1::GetBatchStatsResponse* response);

// Recalibrate: config, batches, commit at the end of stream - unless the call
// was cancelled or a batch was refused, in which case nothing is committed.
grpc::ServerReadReactor<v1::RecalibrateRequest>* NewRecalibrateReactor(const CallEnv& env,
                                                                       grpc::CallbackServerContext* context,
                                                                       v1::RecalibrateResponse* response);

// WatchDrift: the drift report now and after every window or decision.
grpc::ServerWriteReactor<v1::GetDriftResponse>* NewWatchDriftReactor(const CallEnv& env,
                                                                    grpc::CallbackServerContext* context,
                                                                    const v1::GetDriftRequest* request);
// Export: builds the file once, then writes it in chunks.
grpc::ServerWriteReactor<v1::ExportChunk>* NewExportReactor(const CallEnv& env, grpc::CallbackServerContext* context,
                                                            const v1::ExportRequest* request);

}  // namespace bnserve
