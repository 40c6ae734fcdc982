#include "core/ops/ops.h"

namespace bnserve {

// TODO(owner of this file): register the ops of this family.
void RegisterElementwiseOps(OpRegistry* registry) {}

}  // namespace bnserve
