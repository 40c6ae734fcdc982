// A streaming reactor's steps run one after another, each on whichever
// thread gRPC or the worker pool gives it: a pool task calls StartRead or
// StartWrite, gRPC runs OnReadDone/OnWriteDone on one of its threads, which
// submits the next task to the pool. gRPC's core orders these steps, but it
// is not instrumented for ThreadSanitizer, which then sees two pool threads
// touching the reactor's members unordered (a report with no gRPC frame, so
// no suppression covers it). These two calls state the ordering gRPC
// provides: ReleaseToGrpc(this) right before handing the reactor to gRPC
// (Start*, Finish), AcquireFromGrpc(this) first thing in every step gRPC or
// the pool runs for it. They compile to nothing outside TSan builds.
#pragma once

#if defined(__SANITIZE_THREAD__)
#define BNSERVE_TSAN_ANNOTATIONS 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BNSERVE_TSAN_ANNOTATIONS 1
#endif
#endif

#ifdef BNSERVE_TSAN_ANNOTATIONS
#include <sanitizer/tsan_interface.h>
#endif

namespace bnserve {

inline void ReleaseToGrpc(const void* reactor) {
#ifdef BNSERVE_TSAN_ANNOTATIONS
  __tsan_release(const_cast<void*>(reactor));
#else
  (void)reactor;
#endif
}

inline void AcquireFromGrpc(const void* reactor) {
#ifdef BNSERVE_TSAN_ANNOTATIONS
  __tsan_acquire(const_cast<void*>(reactor));
#else
  (void)reactor;
#endif
}

}  // namespace bnserve
