// Drift between the statistics a batch produces at a BN layer and the
// layer's running statistics: the numbers behind "which layers moved".
//   standardized mean shift  z = (mu_B - mu_r) / sqrt(v_r + eps)
//   KL divergence            KL( N(mu_B, s2_B) || N(mu_r, v_r + eps) )
//                            = 0.5*(ln((v_r+eps)/(s2_B+eps)) + (s2_B + (mu_B-mu_r)^2)/(v_r+eps) - 1)
// (eps added on both sides keeps a constant channel finite). Per layer:
// mean |z| and mean KL over channels, and the worst channel.
#pragma once

#include <string>
#include <vector>

#include "core/stats/bn_layer.h"
#include "core/stats/channel_moments.h"
#include "core/stats/stats_snapshot.h"

namespace bnserve {

struct ChannelDrift {
  double batch_mean = 0.0;
  double batch_var = 0.0;           // biased (what train-mode BN normalizes with)
  double batch_var_unbiased = 0.0;  // NaN when count < 2
  double running_mean = 0.0;
  double running_var = 0.0;
  double mean_shift = 0.0;  // z, signed
  double kl = 0.0;
};

struct LayerDrift {
  int layer_index = -1;
  std::string name;
  int64_t count = 0;  // values per channel in the batch
  std::vector<ChannelDrift> channels;
  double mean_abs_shift = 0.0;
  double mean_kl = 0.0;
  int worst_channel = -1;  // largest KL
};

LayerDrift ComputeLayerDrift(int layer_index, const BnLayerInfo& info, const LayerStats& running,
                             const std::vector<ChannelMoments>& batch);

// Most shifted first: by mean KL, ties by mean |z|.
void SortByDrift(std::vector<LayerDrift>* layers);

}  // namespace bnserve
