#include "core/ops/ops.h"

namespace bnserve {

// TODO(owner of this file): register the ops of this family.
void RegisterShapeOps(OpRegistry* registry) {}

}  // namespace bnserve
