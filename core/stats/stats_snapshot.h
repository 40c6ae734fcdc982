// StatsSnapshot: one immutable version of every BN layer's running statistics
// of a model. Held through std::shared_ptr<const StatsSnapshot>; a
// recalibration builds a new one and the old one stays valid for whoever still
// holds it (predictions in flight).
#pragma once

#include <cstdint>
#include <vector>

#include "core/stats/bn_layer.h"
#include "core/util/status.h"

namespace bnserve {

struct LayerStats {
  std::vector<double> mean;  // running mean, per channel
  std::vector<double> var;   // running variance (PyTorch convention: unbiased batch variances)
  // PyTorch's counter: batches averaged so far (drives the cumulative mode).
  int64_t num_batches_tracked = 0;
  // Samples per channel pooled into these statistics by recalibrations that
  // track it (0 when unknown, e.g. for statistics that came in the ONNX file).
  // With it, (sample_count, mean, var * (sample_count - 1)) is an exact Chan
  // state, so the "exact" mode can continue pooling across streams.
  int64_t sample_count = 0;
};

struct StatsSnapshot {
  int64_t version = 1;             // 1 = what the ONNX file carries
  std::vector<LayerStats> layers;  // same order as Model::bn_layers()
};

// OK when `snapshot` has one entry per layer, the right channel counts, and
// every var + eps is finite and > 0 and every mean finite. Otherwise
// FAILED_PRECONDITION naming the layer and channel (we never "repair" a bad
// variance as ncnn does).
absl::Status ValidateSnapshot(const std::vector<BnLayerInfo>& layers, const StatsSnapshot& snapshot);

}  // namespace bnserve
