// Sgemm kernels for the build's baseline instruction set (SSE2 on x86-64).
// Always present; the fallback when the CPU has neither AVX2 nor AVX-512.
// Eigen is renamed here too so that these internals never share symbols
// with plain-Eigen code elsewhere in the engine (see sgemm_eigen_kernels.inc).
#define Eigen EigenSgemmGeneric
#define BNSERVE_SGEMM_TABLE kGenericKernels
#define BNSERVE_SGEMM_ISA_NAME "generic"
#include "core/engine/kernels/sgemm_eigen_kernels.inc"
