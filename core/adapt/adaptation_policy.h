// The guardrails of label-free adaptation as pure decisions over a shadow
// evaluation (docs/drift.md, "The guardrails"): whether a candidate may be
// promoted, and whether a promotion must be rolled back. The monitor acts on
// them and records the reason in the model's history.
#pragma once

#include <string>

#include "core/adapt/prediction_quality.h"
#include "core/model/drift_config.h"

namespace bnserve {

struct PolicyVerdict {
  bool accept = false;
  std::string reason;  // the rule that decided, with its numbers
};

// Promote when the candidate's mean entropy is lower than the served one's
// by at least config.entropy_margin and no window of the candidate's
// predictions has one class above config.max_class_share (a window of one
// or two classes is a label shift, which statistics must not follow).
PolicyVerdict JudgePromotion(const ShadowTally& tally, const DriftConfig& config);

// After a promotion, `tally` compares the previous version ("served") with
// the promoted one ("candidate") on the traffic since: keep the promotion
// unless the promoted statistics are worse by the same measures - a higher
// mean entropy than the previous version's, or a class above the share.
PolicyVerdict JudgePromotionKept(const ShadowTally& tally, const DriftConfig& config);

}  // namespace bnserve
