// RunCost: what one plan's recent runs cost per input element, learnt from
// the runs themselves. It lets the server tell, before running a request, a
// prediction that takes microseconds (cheaper to compute on the thread that
// received it than to hand to another thread) from one that takes
// milliseconds (which must not hold up gRPC's threads).
//
// Thread-safe and lock-free: concurrent runs race on one relaxed atomic; a
// lost update only delays the average by one run.
#pragma once

#include <atomic>
#include <cstdint>

namespace bnserve {

class RunCost {
 public:
  // Records a run over `elements` input floats that took `nanos` of wall
  // time (0 elements counts as 1).
  void Record(int64_t elements, int64_t nanos);
  // The expected wall time of a run over `elements` input floats, in
  // nanoseconds; -1 until a run was recorded. Linear in `elements`, so a
  // batch estimated from batch-1 runs errs on the expensive side.
  int64_t EstimateNanos(int64_t elements) const;

 private:
  // Picoseconds per input element, an exponential moving average over about
  // the last 8 runs (so one run slowed by preemption moves it only a
  // little); -1 = no run yet.
  std::atomic<int64_t> ps_per_element_{-1};
};

}  // namespace bnserve
