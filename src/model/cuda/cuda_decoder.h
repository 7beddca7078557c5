// The GPU forward: the decoder stack of model/decoder.h (the same block, the same families and
// config data) on an NVIDIA GPU. Weights are bf16 on the device (device_weights.h), GEMMs go
// through cuBLASLt (gemm.h), the rest through the model's kernels (kernels.h, gdn_kernels.h), and
// every attention layer hands an AttentionCall of bf16 device views to the AttentionBackend given
// to forward() — a backend over the CUDA executor (attention/cuda/): dense, a host producer's
// support, or a device producer such as the GPU indexer. The residual stream is f32; output
// projections accumulate into it inside the GEMM.
//
// States come from new_state() and live on the device: KV cache bf16 [capacity][n_kv_heads][D]
// per attention layer, Gated DeltaNet conv and recurrent state f32, side caches and activation
// arenas on the device; prefill then decode is exact in the same sense as on the CPU, and chunked
// prefill (ForwardOptions::prefill_chunk) attends each chunk to the cached prefix.
//
// With CudaModelOptions::time_parts the forward synchronises between parts and adds their wall
// time to a breakdown (GEMMs, Gated DeltaNet core, attention backend, the rest) — what a TTFT
// benchmark reports; without it nothing synchronises until the logits are copied back.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "model/model.h"

namespace spf {

class TensorSource;

struct CudaModelOptions {
  bool time_parts = false;
  // Pick each GEMM shape's cuBLASLt algorithm by timing its candidates on the first run
  // (model/cuda/gemm.h: faster, but the pick may vary between processes, and so may the last bits
  // of the results). Off: the heuristic's first choice, the same every run.
  bool gemm_autotune = false;
};

// Seconds by part, summed over forward() calls since the last reset (time_parts only).
struct CudaBreakdown {
  double gemm_s = 0;       // every cuBLASLt matmul (projections, MLP, head)
  double gdn_s = 0;        // Gated DeltaNet conv + delta rule + gated norm
  double attention_s = 0;  // the attention backend's attend() (indexer scoring included)
  double other_s = 0;      // norms, RoPE, SwiGLU, gates, embedding, copies
  double total_s() const { return gemm_s + gdn_s + attention_s + other_s; }
};

class CudaModel : public Model {
 public:
  virtual CudaBreakdown breakdown() const = 0;
  virtual void reset_breakdown() = 0;
  // Device memory held by the weights.
  virtual size_t weight_bytes() const = 0;
  // Switches CudaModelOptions::time_parts for later forward() calls.
  virtual void set_time_parts(bool on) = 0;
  // Switches CudaModelOptions::gemm_autotune for GEMM shapes not yet run.
  virtual void set_gemm_autotune(bool on) = 0;
  // GEMM shapes whose algorithm was timed, and how many of them left the heuristic's choice.
  virtual std::pair<int64_t, int64_t> gemm_tuning_counts() const = 0;
};

// Device memory in use on the current GPU (total - free, all processes), and its name.
size_t cuda_memory_in_use();
std::string cuda_device_name();

// The GPU model of a checkpoint's weights (host tensors are converted and dropped).
std::unique_ptr<CudaModel> make_cuda_model(const ModelConfig& cfg, const TensorSource& src,
                                           CudaModelOptions options = {});
// The GPU model of cfg's shapes with random weights made on the device (benchmarks).
std::unique_ptr<CudaModel> make_random_cuda_model(const ModelConfig& cfg, uint64_t seed,
                                                  CudaModelOptions options = {});

// Makes load_model(path, {.device = Device::cuda}) build the GPU model (model/model.h) and
// executor_for(Device::cuda) the CUDA executor (attention/executor.h); idempotent. Commands that
// offer --device cuda call it once.
void install_cuda_models();

}  // namespace spf
