// Which optional x86-64 instruction sets this CPU offers, for the kernels
// that are compiled several times with different -m flags and picked at run
// time (Sgemm, Conv). One definition so every dispatcher agrees on what
// "AVX2" and "AVX-512" require.
#pragma once

namespace bnserve {

// AVX2 and FMA (Haswell and later): what the *_avx2.cc kernel files assume.
bool CpuHasAvx2Fma();

// AVX-512 F, DQ, VL and BW plus AVX2 and FMA (Skylake-SP and later): what the
// *_avx512.cc kernel files assume.
bool CpuHasAvx512();

}  // namespace bnserve
