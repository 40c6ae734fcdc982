// Sgemm kernels for AVX-512 (F, DQ, VL, BW: Skylake-SP and later). Eigen's
// AVX-512 path doubles the register width of the AVX2 one. core/CMakeLists.txt
// compiles this file alone with those -m flags; sgemm.cc runs it only after
// __builtin_cpu_supports confirms them. Eigen's namespace is renamed as in the
// other kernel TUs (see sgemm_eigen_kernels.inc).
#if defined(__x86_64__)
#if !defined(__AVX512F__) || !defined(__AVX512DQ__)
#error "sgemm_kernel_avx512.cc must be compiled with -mavx512f -mavx512dq ... (see core/CMakeLists.txt)"
#endif
#define Eigen EigenSgemmAvx512
#define BNSERVE_SGEMM_TABLE kAvx512Kernels
#define BNSERVE_SGEMM_ISA_NAME "avx512"
#include "core/engine/kernels/sgemm_eigen_kernels.inc"
#endif  // defined(__x86_64__)
