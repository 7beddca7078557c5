#include "model/cuda/device_weights.h"

#include <algorithm>
#include <initializer_list>

#include "attention/cuda/cuda_executor.h"
#include "attention/cuda/fill.h"
#include "core/error.h"
#include "core/half.h"

namespace spf::cuda {

namespace {

// Rows converted per staging step (bounds the host staging memory).
constexpr int64_t kStageFloats = int64_t(1) << 22;

DeviceMatrix alloc_matrix(int64_t rows, int64_t cols, size_t& bytes) {
  DeviceMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.data = Buffer(Device::cuda, size_t(rows * cols) * 2);
  bytes += m.data.bytes();
  return m;
}

// The rows of several host matrices of one width, stacked, as one bf16 device matrix.
DeviceMatrix upload_stacked(std::initializer_list<const WeightTensor*> parts, size_t& bytes) {
  int64_t rows = 0;
  const int64_t cols = (*parts.begin())->cols();
  for (const WeightTensor* p : parts) {
    SPF_CHECK(p->cols() == cols, "stacked weights of widths ", cols, " and ", p->cols());
    rows += p->rows();
  }
  DeviceMatrix m = alloc_matrix(rows, cols, bytes);
  const int64_t step = std::max<int64_t>(1, kStageFloats / cols);
  std::vector<float> f32(size_t(step * cols));
  std::vector<uint16_t> bf16(size_t(step * cols));
  int64_t dst_row = 0;
  for (const WeightTensor* p : parts) {
    for (int64_t r0 = 0; r0 < p->rows(); r0 += step) {
      const int64_t n = std::min(step, p->rows() - r0);
      p->dequantize_rows(r0, n, f32.data());
      for (int64_t i = 0; i < n * cols; ++i) bf16[size_t(i)] = spf::f32_to_bf16(f32[size_t(i)]);
      cuda_copy_to_device(static_cast<uint16_t*>(m.data.data()) + (dst_row + r0) * cols,
                          bf16.data(), size_t(n * cols) * 2);
    }
    dst_row += p->rows();
  }
  return m;
}

DeviceMatrix upload(const WeightTensor& w, size_t& bytes) {
  return upload_stacked({&w}, bytes);
}

DeviceVector upload_vector(std::initializer_list<const std::vector<float>*> parts, size_t& bytes) {
  std::vector<float> all;
  for (const auto* p : parts) all.insert(all.end(), p->begin(), p->end());
  DeviceVector v;
  if (all.empty()) return v;
  v.n = int64_t(all.size());
  v.data = Buffer(Device::cuda, all.size() * sizeof(float));
  bytes += v.data.bytes();
  cuda_copy_to_device(v.data.data(), all.data(), all.size() * sizeof(float));
  return v;
}

DeviceMatrix random_matrix(int64_t rows, int64_t cols, uint64_t seed, size_t& bytes) {
  DeviceMatrix m = alloc_matrix(rows, cols, bytes);
  cuda_fill_normal_bf16(m.data.data(), rows * cols, seed, 0.02f);
  return m;
}

DeviceVector alloc_vector(int64_t n, size_t& bytes) {
  DeviceVector v;
  v.n = n;
  v.data = Buffer(Device::cuda, size_t(n) * sizeof(float));
  bytes += v.data.bytes();
  return v;
}

DeviceVector const_vector(int64_t n, float value, size_t& bytes) {
  DeviceVector v = alloc_vector(n, bytes);
  cuda_fill_f32(static_cast<float*>(v.data.data()), n, value);
  return v;
}

DeviceVector uniform_vector(int64_t n, uint64_t seed, float lo, float hi, size_t& bytes) {
  DeviceVector v = alloc_vector(n, bytes);
  cuda_fill_uniform_f32(static_cast<float*>(v.data.data()), n, seed, lo, hi);
  return v;
}

}  // namespace

DeviceDecoderWeights upload_decoder_weights(const ModelConfig& cfg, const DecoderWeights& w) {
  SPF_CHECK(cuda_device_present(), "no CUDA device: cannot upload the model's weights");
  DeviceDecoderWeights d;
  size_t& bytes = d.bytes;
  d.embed = upload(w.embed, bytes);
  if (!w.lm_head.empty()) d.lm_head = upload(w.lm_head, bytes);
  d.norm = upload_vector({&w.norm}, bytes);
  for (const LayerWeights& L : w.layers) {
    DeviceLayerWeights D;
    D.type = L.type;
    D.input_norm = upload_vector({&L.input_norm}, bytes);
    D.post_norm = upload_vector({&L.post_norm}, bytes);
    D.gate_up = upload_stacked({&L.mlp.gate, &L.mlp.up}, bytes);
    D.down = upload(L.mlp.down, bytes);
    if (L.type == LayerType::linear_attention) {
      const GdnWeights& g = L.gdn;
      D.gdn.qkv = upload(g.qkv, bytes);
      D.gdn.z = upload(g.z, bytes);
      D.gdn.b = upload(g.b, bytes);
      D.gdn.a = upload(g.a, bytes);
      D.gdn.out = upload(g.out, bytes);
      D.gdn.conv = upload_vector({&g.conv}, bytes);
      D.gdn.dt_bias = upload_vector({&g.dt_bias}, bytes);
      D.gdn.A_log = upload_vector({&g.A_log}, bytes);
      D.gdn.norm = upload_vector({&g.norm}, bytes);
    } else {
      const AttentionWeights& a = L.attention;
      D.attention.qkv = upload_stacked({&a.q, &a.k, &a.v}, bytes);
      D.attention.o = upload(a.o, bytes);
      D.attention.bqkv = upload_vector({&a.bq, &a.bk, &a.bv}, bytes);
      D.attention.bo = upload_vector({&a.bo}, bytes);
      D.attention.q_norm = upload_vector({&a.q_norm}, bytes);
      D.attention.k_norm = upload_vector({&a.k_norm}, bytes);
    }
    d.layers.push_back(std::move(D));
  }
  cuda_synchronize();
  (void)cfg;
  return d;
}

DeviceDecoderWeights random_decoder_weights(const ModelConfig& c, uint64_t seed) {
  SPF_CHECK(cuda_device_present(), "no CUDA device: cannot build random weights");
  c.validate();
  DeviceDecoderWeights d;
  size_t& bytes = d.bytes;
  uint64_t stream = seed * 1000003u;
  auto next = [&stream] { return ++stream; };
  const int64_t H = c.hidden, I = c.intermediate, D = c.head_dim;
  const float norm_one = c.norm_plus_one ? 0.0f : 1.0f;
  d.embed = random_matrix(c.vocab_size, H, next(), bytes);
  if (!c.tie_embeddings) d.lm_head = random_matrix(c.vocab_size, H, next(), bytes);
  d.norm = const_vector(H, norm_one, bytes);
  for (int l = 0; l < c.n_layers; ++l) {
    DeviceLayerWeights L;
    L.type = c.layer_types[size_t(l)];
    L.input_norm = const_vector(H, norm_one, bytes);
    L.post_norm = const_vector(H, norm_one, bytes);
    L.gate_up = random_matrix(2 * I, H, next(), bytes);
    L.down = random_matrix(H, I, next(), bytes);
    if (L.type == LayerType::linear_attention) {
      const int64_t NV = c.lin_v_heads, VD = NV * c.lin_v_dim;
      const int64_t C = 2 * int64_t(c.lin_k_heads) * c.lin_k_dim + VD;
      L.gdn.qkv = random_matrix(C, H, next(), bytes);
      L.gdn.z = random_matrix(VD, H, next(), bytes);
      L.gdn.b = random_matrix(NV, H, next(), bytes);
      L.gdn.a = random_matrix(NV, H, next(), bytes);
      L.gdn.out = random_matrix(H, VD, next(), bytes);
      L.gdn.conv = uniform_vector(C * c.conv_kernel, next(), -0.5f, 0.5f, bytes);
      // HF: A ~ U(0, 16) (A_log = log A), dt_bias = inverse softplus of dt ~ [1e-3, 0.1].
      L.gdn.A_log = uniform_vector(NV, next(), -1.0f, 2.7f, bytes);
      L.gdn.dt_bias = uniform_vector(NV, next(), -6.9f, -2.25f, bytes);
      L.gdn.norm = const_vector(c.lin_v_dim, 1.0f, bytes);
    } else {
      const int64_t qd = int64_t(c.n_heads) * D, kvd = int64_t(c.n_kv_heads) * D;
      const int64_t q_rows = c.attn_output_gate ? 2 * qd : qd;
      L.attention.qkv = random_matrix(q_rows + 2 * kvd, H, next(), bytes);
      L.attention.o = random_matrix(H, qd, next(), bytes);
      if (c.qkv_bias) L.attention.bqkv = const_vector(q_rows + 2 * kvd, 0.0f, bytes);
      if (c.o_bias) L.attention.bo = const_vector(H, 0.0f, bytes);
      if (c.qk_norm) {
        L.attention.q_norm = const_vector(D, norm_one, bytes);
        L.attention.k_norm = const_vector(D, norm_one, bytes);
      }
    }
    d.layers.push_back(std::move(L));
  }
  cuda_synchronize();
  return d;
}

}  // namespace spf::cuda
