// SPF_ISA_CLONES: hot loops are compiled once per x86 vector ISA and picked at load time (GCC
// target_clones), since the portable build only assumes SSE2. Results are identical across clones
// up to the order of float sums (no FMA contraction: the build uses ISO C++ mode).
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SPF_ISA_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SPF_ISA_CLONES
#endif
