#include "core/ops/ops.h"

namespace bnserve {

// TODO(owner of this file): register the ops of this family.
void RegisterGemmOps(OpRegistry* registry) {}

}  // namespace bnserve
