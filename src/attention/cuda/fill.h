// Device-side fills for benchmarks, random-weight models and large tests (host fills of GB-sized
// tensors are slow). Values are a counter hash of (seed, index): reproducible, independent of the
// launch. All run on a cudaStream_t (null: the default stream) and launch nothing for n <= 0.
#pragma once

#include <cstdint>

namespace spf {

// n bf16 values uniform in [lo, hi).
void cuda_fill_uniform_bf16(void* p, int64_t n, uint64_t seed, float lo, float hi,
                            void* stream = nullptr);
// n bf16 values normal(0, std) (Box-Muller).
void cuda_fill_normal_bf16(void* p, int64_t n, uint64_t seed, float std, void* stream = nullptr);
// n f32 values uniform in [lo, hi).
void cuda_fill_uniform_f32(float* p, int64_t n, uint64_t seed, float lo, float hi,
                           void* stream = nullptr);
// n f32 values equal to value.
void cuda_fill_f32(float* p, int64_t n, float value, void* stream = nullptr);

}  // namespace spf
