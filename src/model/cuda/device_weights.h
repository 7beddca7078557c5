// The decoder's weights in GPU memory, for the GPU forward (cuda_decoder.h): matrices bf16
// [rows][cols] (dequantized from any stored type at upload), vectors f32. Matrices read by one
// input are concatenated by rows at upload so that one GEMM serves them: attention q (+gate) | k |
// v, MLP gate | up. Built either from host DecoderWeights (a checkpoint) or from random values on
// the device (benchmarks of real-size shapes without a checkpoint: nothing crosses the bus).
#pragma once

#include <cstdint>
#include <vector>

#include "core/buffer.h"
#include "model/config.h"
#include "model/decoder_weights.h"

namespace spf::cuda {

struct DeviceMatrix {
  Buffer data;  // bf16 [rows][cols]
  int64_t rows = 0, cols = 0;
  const uint16_t* ptr() const { return static_cast<const uint16_t*>(data.data()); }
  bool empty() const { return rows == 0; }
};

struct DeviceVector {
  Buffer data;  // f32 [n]
  int64_t n = 0;
  const float* ptr() const { return n == 0 ? nullptr : static_cast<const float*>(data.data()); }
};

struct DeviceAttentionWeights {
  DeviceMatrix qkv;  // [q rows (2x with the output gate) | k | v][hidden]
  DeviceMatrix o;
  DeviceVector bqkv, bo, q_norm, k_norm;  // empty when the config has none
};

struct DeviceGdnWeights {
  DeviceMatrix qkv, z, b, a, out;
  DeviceVector conv, dt_bias, A_log, norm;
};

struct DeviceLayerWeights {
  LayerType type = LayerType::full_attention;
  DeviceVector input_norm, post_norm;
  DeviceAttentionWeights attention;
  DeviceGdnWeights gdn;
  DeviceMatrix gate_up;  // [2 * intermediate][hidden]
  DeviceMatrix down;
};

struct DeviceDecoderWeights {
  DeviceMatrix embed;    // [vocab][hidden]
  DeviceMatrix lm_head;  // empty when tied
  DeviceVector norm;
  std::vector<DeviceLayerWeights> layers;
  size_t bytes = 0;  // device memory held
  const DeviceMatrix& head() const { return lm_head.empty() ? embed : lm_head; }
};

// Uploads (and converts) host weights; the host copy may be dropped afterwards.
DeviceDecoderWeights upload_decoder_weights(const ModelConfig& cfg, const DecoderWeights& w);

// Random weights of cfg's shapes, filled on the device from seed: matrices normal(0, 0.02),
// norms at their identity (1, or 0 in the 1 + w form), Gated DeltaNet gates in the ranges of HF's
// initialisation. Values only need to keep activations finite; what they compute is meaningless.
DeviceDecoderWeights random_decoder_weights(const ModelConfig& cfg, uint64_t seed);

}  // namespace spf::cuda
