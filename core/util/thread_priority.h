// Lowering the CPU priority of the calling thread, for pools whose work must
// not starve latency-sensitive threads (recalibration vs predictions).
#pragma once

namespace bnserve {

// Raises the calling thread's nice value by `nice` (0..19; 0 does nothing).
// Linux: per-thread, through setpriority on the thread id. Best effort: on
// failure (e.g. a sandbox refusing it) the thread keeps its priority and
// works as usual, so the result is not reported.
void LowerCurrentThreadPriority(int nice);

}  // namespace bnserve
