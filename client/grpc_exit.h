#ifndef BNSERVE_CLIENT_GRPC_EXIT_H_
#define BNSERVE_CLIENT_GRPC_EXIT_H_

#include "absl/time/time.h"

namespace bnserve::client {

// Waits until the gRPC library has finished shutting itself down, for a
// process that is about to exit. Call it after the last channel, stub and
// server of the process are destroyed.
//
// Why a process must wait: gRPC finishes tearing a channel down on its own
// threads after the C++ objects are gone (a subchannel waiting out its
// reconnect backoff lives until that timer fires, about a second), and when
// its last reference goes it shuts down on a detached thread that joins its
// executor threads. A TLS handshake on an executor thread gave that thread
// OpenSSL per-thread state (its random generators). If main() returns first,
// OpenSSL's atexit cleanup runs while those threads are alive: their state is
// then unreachable (LeakSanitizer reports CRYPTO_zalloc leaks under
// EVP_RAND_CTX_new), and a thread that exits after the cleanup can crash in
// OpenSSL's thread-exit handler. Waiting lets the threads end while OpenSSL is
// whole. A process that connected normally waits a few milliseconds.
//
// Returns true once gRPC is no longer initialized, false when `timeout`
// passed first (a gRPC object is still alive somewhere). Thread-safe.
bool AwaitGrpcShutdown(absl::Duration timeout);

}  // namespace bnserve::client

#endif  // BNSERVE_CLIENT_GRPC_EXIT_H_
