#include "core/ops/ops.h"

namespace bnserve {

// TODO(owner of this file): register the ops of this family.
void RegisterConvOps(OpRegistry* registry) {}

}  // namespace bnserve
