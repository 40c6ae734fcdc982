// Picks the convolution kernel table for this CPU and packs GEMM operands
// for it. Built with the baseline flags only, like sgemm.cc.
#include "core/engine/kernels/conv_kernel.h"

#include "core/util/cpu_features.h"

namespace bnserve::conv_internal {

void SupportedConvKernels(const ConvKernels** tables, int* count) {
  *count = 0;
#if defined(__x86_64__)
  if (CpuHasAvx512()) tables[(*count)++] = &kAvx512ConvKernels;
  if (CpuHasAvx2Fma()) tables[(*count)++] = &kAvx2ConvKernels;
#endif
  tables[(*count)++] = &kGenericConvKernels;
}

const ConvKernels& SelectedConvKernels() {
  static const ConvKernels& selected = []() -> const ConvKernels& {
    const ConvKernels* tables[3];
    int count = 0;
    SupportedConvKernels(tables, &count);
    return *tables[0];
  }();
  return selected;
}

void PackGemmA(const float* a, int64_t m, int64_t k, int64_t lda, int mr, float* packed) {
  for (int64_t m0 = 0; m0 < m; m0 += mr) {
    for (int64_t kk = 0; kk < k; ++kk) {
      for (int i = 0; i < mr; ++i) *packed++ = m0 + i < m ? a[(m0 + i) * lda + kk] : 0.0f;
    }
  }
}

}  // namespace bnserve::conv_internal
