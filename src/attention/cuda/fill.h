// Device-side fills for benchmarks and tests.
#pragma once

#include <cstdint>

namespace spf {

// n bf16 values uniform in [lo, hi), reproducible from seed, on a cudaStream_t (null: default).
void cuda_fill_uniform_bf16(void* p, int64_t n, uint64_t seed, float lo, float hi,
                            void* stream = nullptr);

}  // namespace spf
