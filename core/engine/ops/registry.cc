#include "core/engine/ops/ops.h"

namespace bnserve {

const OpRegistry& OpRegistry::Builtin() {
  // Built on first use (thread-safe static init), never modified afterwards.
  static const OpRegistry* const registry = [] {
    auto* r = new OpRegistry();
    RegisterConvOps(r);
    RegisterGemmOps(r);
    RegisterPoolOps(r);
    RegisterElementwiseOps(r);
    RegisterActivationOps(r);
    RegisterShapeOps(r);
    RegisterPadOps(r);
    RegisterReduceOps(r);
    RegisterSliceSplitOps(r);
    RegisterBatchNormOps(r);
    RegisterResizeOps(r);
    return r;
  }();
  return *registry;
}

}  // namespace bnserve
