#include "core/stats/drift.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace bnserve {

LayerDrift ComputeLayerDrift(int layer_index, const BnLayerInfo& info, const LayerStats& running,
                             const std::vector<ChannelMoments>& batch) {
  LayerDrift drift;
  drift.layer_index = layer_index;
  drift.name = info.name;
  drift.count = batch.empty() ? 0 : batch[0].count;
  double worst = -1.0;
  for (size_t c = 0; c < batch.size(); ++c) {
    ChannelDrift d;
    d.batch_mean = batch[c].mean;
    d.batch_var = batch[c].VarBiased();
    d.batch_var_unbiased = batch[c].count >= 2 ? batch[c].VarUnbiased() : std::numeric_limits<double>::quiet_NaN();
    d.running_mean = running.mean[c];
    d.running_var = running.var[c];
    const double vr = d.running_var + info.epsilon;
    const double vb = d.batch_var + info.epsilon;
    const double delta = d.batch_mean - d.running_mean;
    d.mean_shift = delta / std::sqrt(vr);
    d.kl = 0.5 * (std::log(vr / vb) + (vb + delta * delta) / vr - 1.0);
    drift.mean_abs_shift += std::abs(d.mean_shift);
    drift.mean_kl += d.kl;
    if (d.kl > worst) {
      worst = d.kl;
      drift.worst_channel = static_cast<int>(c);
    }
    drift.channels.push_back(d);
  }
  if (!batch.empty()) {
    drift.mean_abs_shift /= static_cast<double>(batch.size());
    drift.mean_kl /= static_cast<double>(batch.size());
  }
  return drift;
}

void SortByDrift(std::vector<LayerDrift>* layers) {
  std::stable_sort(layers->begin(), layers->end(), [](const LayerDrift& a, const LayerDrift& b) {
    if (a.mean_kl != b.mean_kl) return a.mean_kl > b.mean_kl;
    return a.mean_abs_shift > b.mean_abs_shift;
  });
}

}  // namespace bnserve
