// Waiting for SIGTERM/SIGINT without a signal handler: the signals are
// blocked in every thread (BlockShutdownSignals must run before any thread
// is started, so gRPC's and the pool's threads inherit the mask) and the
// main thread collects them with sigwait. Nothing runs in signal context,
// so the shutdown path may lock, log and allocate freely.
#pragma once

namespace bnserve {

// REQUIRES: called by the main thread before any other thread exists.
void BlockShutdownSignals();

// Blocks until SIGTERM or SIGINT arrives; returns the signal number.
int WaitForShutdownSignal();

}  // namespace bnserve
