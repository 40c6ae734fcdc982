// The default-domain opset range bnserve's operator kernels were written and
// tested against. Registrations start at the opset whose schema gives an op
// its current float32 semantics and end here, so a model from a newer opset
// fails with UNIMPLEMENTED instead of silently running an op whose
// definition may have changed.
#pragma once

#include <cstdint>

namespace bnserve {

inline constexpr int64_t kMaxSupportedOpset = 17;

// Pad, ReduceMean/Sum/Max, HardSigmoid and HardSwish are registered and
// tested through opset 18, whose schema changes (axes as inputs) they
// implement.
inline constexpr int64_t kMaxSupportedOpset18Ops = 18;

}  // namespace bnserve
