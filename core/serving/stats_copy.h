// Moving statistics histories between stores: a repository's file stores
// into PostgreSQL when a deployment grows to several replicas, and back
// (bnserve --copy-stats-to, docs/stats-store-postgresql.md).
//
// Stateless functions; the stores do their own locking.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/store/stats_store.h"
#include "core/util/file_system.h"
#include "core/util/status.h"

namespace bnserve {

// Commits every version of from.History() after version 1 into `to`, oldest
// first, with its statistics and history fields (origin, mode, counts, note,
// creation time, request id and digest). `to` must hold only version 1
// (FAILED_PRECONDITION naming its current version otherwise: two histories
// are never mixed). Versions keep their numbers when the source's are
// contiguous (they are unless a file store skipped a number after a failed
// commit); `renumbered` (if given) receives a sentence per one that did not.
// Returns how many versions were copied.
absl::StatusOr<int64_t> CopyStatsHistory(const StatsStore& from, StatsStore& to,
                                         std::vector<std::string>* renumbered = nullptr);

struct ModelStatsCopy {
  std::string model;
  int64_t versions = 0;                 // copied
  std::vector<std::string> renumbered;  // see CopyStatsHistory
};

// CopyStatsHistory for every model folder of `repository` (as ModelManager
// finds them), from the stores `from` opens to those `to` opens. Stops at
// the first model that fails, naming it; the models copied before stay
// copied (a rerun refuses them: their destination is no longer empty).
absl::StatusOr<std::vector<ModelStatsCopy>> CopyRepositoryStats(FileSystem* fs, const std::string& repository,
                                                                StatsStoreProvider& from, StatsStoreProvider& to);

}  // namespace bnserve
