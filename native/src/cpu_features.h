// What the CPU's vector units offer, asked once per process. The kernel files (attention_cpu.cc,
// cpu_gemm.cc, decode_cpu.cc, packed_matmul.cc, skinny_gemm.cc) compile their AVX-512 paths only
// where the compiler can target it, and take them only where this says the CPU runs them.
#pragma once

namespace medtune {

// AVX-512 F, BW, DQ and VL: the subset every AVX-512 kernel here uses (Skylake-SP and later, AMD
// Zen 4 and later). False off x86-64 or without GCC/Clang's CPU checks.
inline bool cpuHasAvx512() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  return yes;
#else
  return false;
#endif
}

}  // namespace medtune
