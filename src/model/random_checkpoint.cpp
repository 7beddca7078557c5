#include "model/random_checkpoint.h"

#include <cmath>
#include <functional>

#include "core/error.h"
#include "core/splitmix.h"

namespace spf {

RandomCheckpoint::RandomCheckpoint(const ModelConfig& c, uint64_t seed)
    : seed_(seed), path_(std::string("random-") + arch_name(c.arch)) {
  c.validate();
  const int64_t H = c.hidden, I = c.intermediate, D = c.head_dim, V = c.vocab_size;
  const int64_t NV = c.lin_v_heads, VD = NV * c.lin_v_dim;
  const int64_t C = 2 * int64_t(c.lin_k_heads) * c.lin_k_dim + VD;
  const int64_t qd = int64_t(c.n_heads) * D, kvd = int64_t(c.n_kv_heads) * D;
  // Uniform with std 1/sqrt(in): scale sqrt(3 / in).
  auto lin = [&](const std::string& n, int64_t out, int64_t in) {
    add(n, {out, in}, 0.0f, std::sqrt(3.0f / float(in)));
  };
  // A norm's weight near its identity: 1, or 0 in the (1 + w) form.
  const float one = c.norm_plus_one ? 0.0f : 1.0f;
  const std::string m = c.weight_prefix;
  add(m + "embed_tokens.weight", {V, H}, 0.0f, 1.0f);
  add(m + "norm.weight", {H}, one, 0.1f);
  if (!c.tie_embeddings) lin("lm_head.weight", V, H);
  for (int i = 0; i < c.n_layers; ++i) {
    const std::string p = m + "layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", {H}, one, 0.1f);
    add(p + "post_attention_layernorm.weight", {H}, one, 0.1f);
    lin(p + "mlp.gate_proj.weight", I, H);
    lin(p + "mlp.up_proj.weight", I, H);
    lin(p + "mlp.down_proj.weight", H, I);
    if (c.layer_types[size_t(i)] == LayerType::linear_attention) {
      const std::string g = p + "linear_attn.";
      lin(g + "in_proj_qkv.weight", C, H);
      lin(g + "in_proj_z.weight", VD, H);
      lin(g + "in_proj_b.weight", NV, H);
      lin(g + "in_proj_a.weight", NV, H);
      add(g + "conv1d.weight", {C, 1, c.conv_kernel}, 0.0f, 0.5f);
      add(g + "dt_bias", {NV}, 0.0f, 0.5f);
      add(g + "A_log", {NV}, -1.0f, 1.0f);
      add(g + "norm.weight", {c.lin_v_dim}, 1.0f, 0.1f);
      lin(g + "out_proj.weight", H, VD);
    } else {
      const std::string a = p + "self_attn.";
      lin(a + "q_proj.weight", c.attn_output_gate ? 2 * qd : qd, H);
      lin(a + "k_proj.weight", kvd, H);
      lin(a + "v_proj.weight", kvd, H);
      lin(a + "o_proj.weight", H, qd);
      if (c.qkv_bias) {
        add(a + "q_proj.bias", {c.attn_output_gate ? 2 * qd : qd}, 0.0f, 0.1f);
        add(a + "k_proj.bias", {kvd}, 0.0f, 0.1f);
        add(a + "v_proj.bias", {kvd}, 0.0f, 0.1f);
      }
      if (c.o_bias) add(a + "o_proj.bias", {H}, 0.0f, 0.1f);
      if (c.qk_norm) {
        add(a + "q_norm.weight", {D}, one, 0.1f);
        add(a + "k_norm.weight", {D}, one, 0.1f);
      }
    }
  }
}

const TensorInfo& RandomCheckpoint::info(const std::string& name) const {
  return get(name).info;
}

void RandomCheckpoint::read_f32(const std::string& name, std::span<float> out) const {
  const Entry& e = get(name);
  SPF_CHECK(int64_t(out.size()) == e.info.numel(), path_, ": ", name, " has ", e.info.numel(),
            " values, asked for ", out.size());
  const uint64_t s = splitmix64(seed_) ^ std::hash<std::string>{}(name);
  const int64_t n = int64_t(out.size());
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const double u = double(splitmix64(s ^ uint64_t(i)) >> 11) * 0x1.0p-53;  // [0, 1)
    out[size_t(i)] = e.center + e.scale * float(2.0 * u - 1.0);
  }
}

void RandomCheckpoint::add(const std::string& name, std::vector<int64_t> shape, float center,
                           float scale) {
  Entry e;
  e.info.name = name;
  e.info.shape = std::move(shape);
  e.center = center;
  e.scale = scale;
  tensors_[name] = e;
  order_.push_back(name);
}

const RandomCheckpoint::Entry& RandomCheckpoint::get(const std::string& name) const {
  auto it = tensors_.find(name);
  SPF_CHECK(it != tensors_.end(), path_, ": no tensor ", name);
  return it->second;
}

}  // namespace spf
