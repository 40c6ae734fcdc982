// Where a statistics pass deposits what each BN layer saw. The executor hands
// one sink to every op of a run; the BN statistics op writes
// layers[layer_index] (resized by the caller to the number of BN layers).
#pragma once

#include <vector>

#include "core/stats/channel_moments.h"

namespace bnserve {

struct BatchStatsSink {
  // layers[l][c]: moments of the input of BN layer l, channel c, for this batch.
  std::vector<std::vector<ChannelMoments>> layers;
};

}  // namespace bnserve
