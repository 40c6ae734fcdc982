// PredictBatches: a data set through Predict, one request per batch, with
// the first output of every reply concatenated. The first reply fixes the
// statistics version (unless the caller pins one or a staged candidate) and
// every later batch is pinned to it, so all instances see the same
// statistics even when a recalibration commits while the data is being sent.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "client/batches.h"
#include "client/client.h"
#include "client/float_array.h"

namespace bnserve::client {

// Which statistics compute the predictions: the served version (both 0), a
// pinned version, or a staged candidate (docs/drift.md; not both).
struct StatisticsChoice {
  int64_t version = 0;
  int64_t candidate_id = 0;
};

struct Predictions {
  // With a candidate: the version it was built from.
  int64_t statistics_version = 0;
  int64_t candidate_id = 0;
  std::string output_name;  // the model's first output
  FloatArray output;        // [instances, ...]: one row per instance
};

// DATA_LOSS when a reply does not have one output row per instance sent.
absl::StatusOr<Predictions> PredictBatches(const Client& client, const std::string& model, StatisticsChoice statistics,
                                           const BatchSplitter& batches);

}  // namespace bnserve::client
