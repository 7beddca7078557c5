// Helpers shared by the GPU benchmarks (bench/cuda_*.cpp): flag parsing and CUDA-event timing.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "attention/cuda/cuda_check.h"

namespace spf::bench {

// "a,b,,c" -> {"a", "b", "c"}.
inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, sep);)
    if (!item.empty()) out.push_back(item);
  return out;
}

// The value after `name` on the command line, else dflt.
inline std::string arg(int argc, char** argv, const char* name, const char* dflt) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == name) return argv[i + 1];
  return dflt;
}

// Median milliseconds of `repeats` calls of fn on the default stream, after 2 warm-ups.
template <class Fn>
double time_ms(Fn&& fn, int repeats) {
  cudaEvent_t a, b;
  SPF_CUDA_CHECK(cudaEventCreate(&a));
  SPF_CUDA_CHECK(cudaEventCreate(&b));
  for (int i = 0; i < 2; ++i) fn();
  std::vector<float> ms;
  for (int i = 0; i < repeats; ++i) {
    SPF_CUDA_CHECK(cudaEventRecord(a));
    fn();
    SPF_CUDA_CHECK(cudaEventRecord(b));
    SPF_CUDA_CHECK(cudaEventSynchronize(b));
    float t = 0.0f;
    SPF_CUDA_CHECK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  SPF_CUDA_CHECK(cudaEventDestroy(a));
  SPF_CUDA_CHECK(cudaEventDestroy(b));
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace spf::bench
