// Sgemm kernels for AVX2 + FMA (Haswell and later). core/CMakeLists.txt
// compiles this file alone with -mavx2 -mfma; sgemm.cc runs it only after
// __builtin_cpu_supports confirms both. Eigen's namespace is renamed so none
// of its AVX2 template instances can replace another TU's (see
// sgemm_eigen_kernels.inc).
#if defined(__x86_64__)
#if !defined(__AVX2__) || !defined(__FMA__)
#error "sgemm_kernel_avx2.cc must be compiled with -mavx2 -mfma (see core/CMakeLists.txt)"
#endif
#define Eigen EigenSgemmAvx2
#define BNSERVE_SGEMM_TABLE kAvx2Kernels
#define BNSERVE_SGEMM_ISA_NAME "avx2"
#include "core/engine/kernels/sgemm_eigen_kernels.inc"
#endif  // defined(__x86_64__)
