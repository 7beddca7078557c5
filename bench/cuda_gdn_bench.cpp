// GPU Gated DeltaNet benchmark (model/cuda/gdn_kernels.h): the chunked delta rule alone
// (delta_chunked: its three kernels) and the whole mixer (mix(): conv, norms, gates, delta rule,
// gated norm apart, bf16 out; "mix fused-norm": the norm inside the output kernel) at batch 1, per
// layer, for each --heads value (value heads; key heads
// --key-heads, dk = dv = --dim) and each length. Times are CUDA-event medians of --repeats calls
// after 2 warm-ups; scratch comes from an arena reset before each call (no allocation once warm).
// The reference point is flash-linear-attention's chunk_gated_delta_rule (Triton) at the same
// shapes.
//
//   cuda_gdn_bench --heads 32,16 --key-heads 16 --dim 128 --lengths 8192,32768,131072
//                  --repeats 5 --json FILE [--state-columns 16|32]
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "attention/cuda/cuda_check.h"
#include "attention/cuda/cuda_executor.h"
#include "core/buffer.h"
#include "core/half.h"
#include "cuda_bench_util.h"
#include "model/cuda/gdn_kernels.h"

namespace {

using spf::Arena;
using spf::Buffer;
using spf::Device;
namespace cg = spf::cuda::gdn;
using spf::bench::arg;
using spf::bench::split;
using spf::bench::time_ms;

// n values on the device (f32, or bf16 bits with Bf16): a random block of up to 2^20 values
// uniform in [lo, hi), repeated (generating gigabytes on the host would dominate the run).
template <bool Bf16 = false>
Buffer device_uniform(int64_t n, uint32_t seed, float lo, float hi) {
  using T = std::conditional_t<Bf16, uint16_t, float>;
  const int64_t block = std::min<int64_t>(n, int64_t(1) << 20);
  std::vector<T> host(static_cast<size_t>(block));
  uint32_t x = seed * 2654435761u + 1u;
  for (T& v : host) {
    x = x * 1664525u + 1013904223u;
    const float f = lo + (hi - lo) * float(x >> 8) / float(1u << 24);
    if constexpr (Bf16) {
      v = spf::f32_to_bf16(f);
    } else {
      v = f;
    }
  }
  Buffer b(Device::cuda, size_t(n) * sizeof(T));
  for (int64_t at = 0; at < n; at += block) {
    const int64_t len = std::min(block, n - at);
    spf::cuda_copy_to_device(static_cast<T*>(b.data()) + at, host.data(), size_t(len) * sizeof(T));
  }
  return b;
}
// device_uniform's values as bf16 (the GEMM outputs the mixer reads).
Buffer device_uniform_bf16(int64_t n, uint32_t seed, float lo, float hi) {
  return device_uniform<true>(n, seed, lo, hi);
}

float* f32(const Buffer& b) {
  return static_cast<float*>(b.data());
}
const uint16_t* u16(const Buffer& b) {
  return static_cast<const uint16_t*>(b.data());
}

}  // namespace

int main(int argc, char** argv) try {
  if (!spf::cuda_device_present()) {
    std::fprintf(stderr, "cuda_gdn_bench: no CUDA device\n");
    return 1;
  }
  const auto heads_s = split(arg(argc, argv, "--heads", "32,16"), ',');
  const int nk = std::atoi(arg(argc, argv, "--key-heads", "16").c_str());
  const int dim = std::atoi(arg(argc, argv, "--dim", "128").c_str());
  const auto lengths_s = split(arg(argc, argv, "--lengths", "8192,32768,131072"), ',');
  const int repeats = std::atoi(arg(argc, argv, "--repeats", "5").c_str());
  const std::string json_path = arg(argc, argv, "--json", "");
  // delta_chunked's state-pass slice width (16, 32; 0: its automatic choice, which mix() uses).
  const int state_columns = std::atoi(arg(argc, argv, "--state-columns", "0").c_str());
  constexpr int kConv = 4;

  cudaDeviceProp prop{};
  SPF_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s, %d SMs\n", prop.name, prop.multiProcessorCount);
  std::printf("%-14s %7s %-14s %9s\n", "heads", "T", "kernel", "ms");
  std::string json = "[\n";
  auto report = [&](const spf::gdn::Dims& d, int64_t T, const char* kernel, double ms) {
    char shape[64];
    std::snprintf(shape, sizeof shape, "%d/%d/%d/%d", d.nk, d.nv, d.dk, d.dv);
    std::printf("%-14s %7lld %-14s %9.3f\n", shape, (long long)T, kernel, ms);
    std::fflush(stdout);
    char line[256];
    std::snprintf(line, sizeof line,
                  "  {\"nk\": %d, \"nv\": %d, \"dk\": %d, \"dv\": %d, \"T\": %lld, "
                  "\"kernel\": \"%s\", \"ms\": %.4f},\n",
                  d.nk, d.nv, d.dk, d.dv, (long long)T, kernel, ms);
    json += line;
  };

  for (const std::string& hs : heads_s) {
    const spf::gdn::Dims d{nk, std::atoi(hs.c_str()), dim, dim};
    d.validate();
    const int64_t C = d.channels();
    for (const std::string& ls : lengths_s) {
      const int64_t T = std::atoll(ls.c_str());
      Arena arena(Device::cuda);
      // Mixer inputs (the input projections' outputs) and weights.
      Buffer m = device_uniform_bf16(T * C, 1, -1.0f, 1.0f);
      Buffer z = device_uniform_bf16(T * d.value_dim(), 2, -2.0f, 2.0f);
      Buffer a = device_uniform(T * d.nv, 3, -3.0f, 3.0f);
      Buffer b = device_uniform(T * d.nv, 4, -3.0f, 3.0f);
      Buffer conv_w = device_uniform(C * kConv, 5, -0.8f, 0.8f);
      Buffer A_log = device_uniform(d.nv, 6, -2.0f, 1.0f);
      Buffer dt_bias = device_uniform(d.nv, 7, -1.0f, 1.0f);
      Buffer norm_w = device_uniform(d.dv, 8, 0.5f, 1.5f);
      Buffer conv_state(Device::cuda, size_t((kConv - 1) * C) * sizeof(float));
      Buffer state(Device::cuda, size_t(d.state_size()) * sizeof(float));
      SPF_CUDA_CHECK(cudaMemset(conv_state.data(), 0, conv_state.bytes()));
      SPF_CUDA_CHECK(cudaMemset(state.data(), 0, state.bytes()));

      // Delta-rule inputs as the mixer makes them (normalised q, k; gates).
      Buffer qkv = device_uniform(T * C, 9, -1.0f, 1.0f);
      Buffer beta(Device::cuda, size_t(T * d.nv) * sizeof(float));
      Buffer g(Device::cuda, size_t(T * d.nv) * sizeof(float));
      Buffer out(Device::cuda, size_t(T * d.value_dim()) * sizeof(float));
      cg::l2_normalize(f32(qkv), T, C, d.nk, d.dk, 1.0f / std::sqrt(float(d.dk)));
      cg::l2_normalize(f32(qkv) + d.key_dim(), T, C, d.nk, d.dk, 1.0f);
      cg::gates(f32(b), f32(a), T, d.nv, f32(A_log), f32(dt_bias), f32(beta), f32(g));
      const spf::gdn::DeltaInputs in{
          f32(qkv), f32(qkv) + d.key_dim(), f32(qkv) + 2 * d.key_dim(), C, f32(beta), f32(g)};
      // Timed on the packed fp16 inputs mix() hands it (the packing is not part of the time).
      Arena packed_arena(Device::cuda);
      const cg::PackedInputs packed = cg::pack_inputs(d, T, in, packed_arena);
      const double chunked_ms = time_ms(
          [&] {
            arena.reset();
            cg::delta_chunked(d, T, packed, f32(state), f32(out), arena, nullptr, state_columns);
          },
          repeats);
      report(d, T, "delta_chunked", chunked_ms);
      out = Buffer();
      qkv = Buffer();
      packed_arena.reset();

      Buffer mix_out(Device::cuda, size_t(T * d.value_dim()) * sizeof(uint16_t));
      const spf::gdn::MixerWeights w{f32(conv_w), f32(A_log), f32(dt_bias), f32(norm_w)};
      for (const auto& [name, norm] : {std::pair{"mix", cg::NormPlacement::separate},
                                       std::pair{"mix fused-norm", cg::NormPlacement::fused}}) {
        const double mix_ms = time_ms(
            [&] {
              arena.reset();
              cg::mix(d, kConv, T, u16(m), u16(z), f32(a), f32(b), w, 1e-6f, f32(conv_state),
                      f32(state), static_cast<uint16_t*>(mix_out.data()), arena, nullptr,
                      spf::gdn::DeltaMode::automatic, norm);
            },
            repeats);
        report(d, T, name, mix_ms);
      }
      SPF_CUDA_CHECK(cudaDeviceSynchronize());
    }
    // One decode step (the recurrent form) per layer.
    {
      Arena arena(Device::cuda);
      Buffer m = device_uniform_bf16(C, 1, -1.0f, 1.0f);
      Buffer z = device_uniform_bf16(d.value_dim(), 2, -2.f, 2.f);
      Buffer a = device_uniform(d.nv, 3, -3.0f, 3.0f), b = device_uniform(d.nv, 4, -3.0f, 3.0f);
      Buffer conv_w = device_uniform(C * kConv, 5, -0.8f, 0.8f);
      Buffer A_log = device_uniform(d.nv, 6, -2.0f, 1.0f);
      Buffer dt_bias = device_uniform(d.nv, 7, -1.0f, 1.0f);
      Buffer norm_w = device_uniform(d.dv, 8, 0.5f, 1.5f);
      Buffer conv_state = device_uniform((kConv - 1) * C, 10, -1.0f, 1.0f);
      Buffer state = device_uniform(d.state_size(), 11, -0.1f, 0.1f);
      Buffer mix_out(Device::cuda, size_t(d.value_dim()) * sizeof(uint16_t));
      const spf::gdn::MixerWeights w{f32(conv_w), f32(A_log), f32(dt_bias), f32(norm_w)};
      const double ms = time_ms(
          [&] {
            arena.reset();
            cg::mix(d, kConv, 1, u16(m), u16(z), f32(a), f32(b), w, 1e-6f, f32(conv_state),
                    f32(state), static_cast<uint16_t*>(mix_out.data()), arena);
          },
          std::max(repeats, 20));
      report(d, 1, "mix decode", ms);
    }
  }
  if (json.size() > 2) json.erase(json.size() - 2, 1);
  json += "]\n";
  if (!json_path.empty()) std::ofstream(json_path) << json;
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "cuda_gdn_bench: error: %s\n", e.what());
  return 1;
}
