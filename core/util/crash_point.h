// Crash points: a test-only fault-injection hook on the statistics commit
// path. The crash-consistency harness (tests/reliability/) sets
// BNSERVE_CRASH_POINT in the server's environment; at each named step of a
// commit the process then kills itself with SIGKILL - the closest a test
// gets to pulling the power cord at exactly that moment without a VM.
//
// Environment (read once, on the first call):
//   BNSERVE_CRASH_POINT        a point name, a comma-separated list of them,
//                              or "any"; unset or empty = the hook is a no-op
//   BNSERVE_CRASH_PROBABILITY  chance of dying at each hit, in (0, 1]; default 1
//   BNSERVE_CRASH_SEED         seed of that draw; default from the pid
// Points, in the order of one WriteFileAtomically call: after_write (bytes
// appended, not synced), after_fsync (synced and closed, not renamed),
// after_rename (renamed, directory not synced), after_dir_fsync (directory
// synced); and after_current (FileStatsStore: CURRENT durably names the new
// version, the commit not yet acknowledged). PgStatsStore: pg_before_commit
// (the version row, the head and the NOTIFY written, COMMIT not sent) and
// pg_after_commit (committed, not yet served nor acknowledged).
//
// Before dying it writes "bnserve: crash point <name> hit" to stderr with
// write(2) (no allocation, no locks). Thread-safe.
#pragma once

#include "absl/strings/string_view.h"

namespace bnserve {

// Dies with SIGKILL when `point` is enabled and the draw says so; otherwise
// returns at once. When the hook is off this is one flag test.
void MaybeCrashAt(absl::string_view point);

}  // namespace bnserve
