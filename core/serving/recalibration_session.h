// RecalibrationSession: one recalibration stream of one model - a
// Recalibrator fed batch by batch, then either a dry-run summary or a commit
// of the new statistics as the model's next version (durable before Finish
// returns OK, then served). Abandoning a session (destroying it without
// Finish: cancelled stream, bad batch, deadline) commits nothing.
//
// Holds one of the model's recalibration stream slots for its lifetime, and
// the bundle it started from. Not thread-safe: one stream, one session.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/serving/model_entry.h"
#include "core/serving/recalibrator.h"
#include "core/serving/request_id.h"

namespace bnserve {

struct RecalibrationRequest {
  RecalibrationOptions options;
  // > 0: the version that must be current at the start and at the commit
  // (else ABORTED naming the current version); 0 = don't check.
  int64_t expected_version = 0;
  // Compute and report, commit nothing.
  bool dry_run = false;
  // Recorded in the new version's history entry.
  std::string note;
  // Idempotency key (ValidateRequestId's rules; empty = none). When a
  // version of the model was already committed under this key, Finish
  // commits nothing and returns that version (deduplicated); the
  // expected_version check is skipped for such a retry. Ignored by dry runs.
  std::string request_id;
  // Compute, commit nothing, and hand the statistics back (staged as a
  // candidate by the caller, docs/drift.md). Excludes dry_run and request_id.
  bool stage = false;
};

struct RecalibrationOutcome {
  std::string model;
  int64_t base_version = 0;  // the version the statistics started from
  bool dry_run = false;
  RecalibrationSummary summary;
  VersionInfo new_version;  // the committed version; version 0 for a dry run
  // True when request_id had already been committed: new_version is that
  // earlier version, base_version its parent, summary.batches/samples its
  // counts and summary.layers empty (the earlier reply's changes are not
  // stored).
  bool deduplicated = false;
  // request.stage: the statistics computed and the bundle they start from.
  std::shared_ptr<const StatsSnapshot> staged;
  std::shared_ptr<const ServingBundle> base;
  std::string staged_mode;  // VersionInfo::mode of the staged statistics
};

class RecalibrationSession {
 public:
  // FAILED_PRECONDITION when the model has no BN layer or is not loaded,
  // ABORTED when expected_version is not current (unless request_id was
  // already committed), ALREADY_EXISTS when request_id was committed for a
  // different configuration, RESOURCE_EXHAUSTED when
  // the model's stream limit is reached, and the Recalibrator's own errors
  // (unknown layer; ValidateRecalibrationOptions).
  // Batches' statistics passes split their loops over `thread_pool` when
  // non-null (not owned; must outlive the session).
  static absl::StatusOr<std::unique_ptr<RecalibrationSession>> Start(std::shared_ptr<ModelEntry> entry,
                                                                     RecalibrationRequest request,
                                                                     ThreadPool* thread_pool = nullptr);
  ~RecalibrationSession();
  RecalibrationSession(const RecalibrationSession&) = delete;
  RecalibrationSession& operator=(const RecalibrationSession&) = delete;

  // One batch, batch dim first (INVALID_ARGUMENT naming the field for a
  // shape mismatch or non-finite value; FAILED_PRECONDITION for one value
  // per channel in train mode; RESOURCE_EXHAUSTED above the model's
  // max_recalibration_batch_samples). All or nothing: a rejected batch leaves the
  // accumulated statistics as they were.
  absl::Status AddBatch(absl::Span<const TensorView> inputs);

  int64_t batches() const { return recalibrator_->batches(); }
  // The model's limits as they were when the stream started.
  const ModelLimits& limits() const { return limits_; }

  // Ends the session: FAILED_PRECONDITION when no batch was added; for a dry
  // run the summary; otherwise the commit (see ModelEntry::Commit). Call at
  // most once.
  absl::StatusOr<RecalibrationOutcome> Finish();

 private:
  RecalibrationSession(std::shared_ptr<ModelEntry> entry, std::shared_ptr<const ServingBundle> base,
                       RecalibrationRequest request, std::unique_ptr<Recalibrator> recalibrator, ModelLimits limits);

  std::shared_ptr<ModelEntry> entry_;
  std::shared_ptr<const ServingBundle> base_;
  RecalibrationRequest request_;
  std::unique_ptr<Recalibrator> recalibrator_;
  // The configuration and every accepted batch (see RequestDigest); stored
  // with the version to recognise a retry of this request.
  RequestDigest digest_;
  ModelLimits limits_;
};

}  // namespace bnserve
