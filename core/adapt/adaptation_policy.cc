#include "core/adapt/adaptation_policy.h"

#include "absl/strings/str_format.h"

namespace bnserve {
namespace {

std::string Numbers(const ShadowTally& tally) {
  return absl::StrFormat(
      "%d samples: mean entropy %.4f (served) vs %.4f (candidate), top-1 probability %.3f vs %.3f, top-1 "
      "agreement %.3f, largest class share %.3f",
      tally.samples(), tally.served_entropy(), tally.candidate_entropy(), tally.served_top1_probability(),
      tally.candidate_top1_probability(), tally.top1_agreement(), tally.candidate_max_class_share());
}

}  // namespace

PolicyVerdict JudgePromotion(const ShadowTally& tally, const DriftConfig& config) {
  if (tally.candidate_max_class_share() > config.max_class_share) {
    return {false, absl::StrFormat("window not diverse: one predicted class takes %.3f of a window > "
                                   "max_class_share %.3f (a label shift, not a covariate shift); %s",
                                   tally.candidate_max_class_share(), config.max_class_share, Numbers(tally))};
  }
  if (tally.candidate_entropy() > tally.served_entropy() - config.entropy_margin) {
    return {false, absl::StrFormat("entropy not lower by entropy_margin %.3f; %s", config.entropy_margin,
                                   Numbers(tally))};
  }
  return {true, absl::StrFormat("entropy lower by %.4f >= %.3f and windows diverse; %s",
                                tally.served_entropy() - tally.candidate_entropy(), config.entropy_margin,
                                Numbers(tally))};
}

PolicyVerdict JudgePromotionKept(const ShadowTally& tally, const DriftConfig& config) {
  if (tally.candidate_max_class_share() > config.max_class_share) {
    return {false, absl::StrFormat("promoted statistics put one class at %.3f of a window > max_class_share "
                                   "%.3f; %s (served = previous version, candidate = promoted)",
                                   tally.candidate_max_class_share(), config.max_class_share, Numbers(tally))};
  }
  if (tally.candidate_entropy() > tally.served_entropy()) {
    return {false, absl::StrFormat("promoted statistics raise the mean entropy; %s (served = previous version, "
                                   "candidate = promoted)",
                                   Numbers(tally))};
  }
  return {true, absl::StrFormat("promoted statistics hold; %s (served = previous version, candidate = promoted)",
                                Numbers(tally))};
}

}  // namespace bnserve
