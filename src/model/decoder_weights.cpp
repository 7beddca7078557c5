#include "model/decoder_weights.h"

#include "core/error.h"

namespace spf {

namespace {

void check_config(const ModelConfig& c) {
  c.validate();
  const char* a = arch_name(c.arch);
  SPF_CHECK(int(c.layer_types.size()) == c.n_layers, a, " config: layer_types has ",
            c.layer_types.size(), " entries for ", c.n_layers, " layers");
  if (c.n_attention_layers() < c.n_layers) {
    SPF_CHECK(c.lin_k_heads > 0 && c.lin_v_heads > 0 && c.lin_v_heads % c.lin_k_heads == 0, a,
              " config: ", c.lin_v_heads, " linear value heads are not a multiple of ",
              c.lin_k_heads, " linear key heads");
    SPF_CHECK(c.lin_k_dim > 0 && c.lin_v_dim > 0 && c.conv_kernel > 0, a,
              " config: linear head dims and conv kernel must be positive");
  }
}

AttentionWeights load_attention(const WeightLoader& w, const ModelConfig& c, int i,
                                WeightStorage storage) {
  auto n = [&](const char* s) { return WeightLoader::layer(i, s); };
  const int64_t H = c.hidden, D = c.head_dim;
  const int64_t qd = int64_t(c.n_heads) * D, kvd = int64_t(c.n_kv_heads) * D;
  const int64_t q_rows = c.attn_output_gate ? 2 * qd : qd;
  AttentionWeights a;
  a.q = w.matrix(n("self_attn.q_proj.weight"), q_rows, H, storage);
  a.k = w.matrix(n("self_attn.k_proj.weight"), kvd, H, storage);
  a.v = w.matrix(n("self_attn.v_proj.weight"), kvd, H, storage);
  a.o = w.matrix(n("self_attn.o_proj.weight"), H, qd, storage);
  if (c.qkv_bias) {
    a.bq = w.get(n("self_attn.q_proj.bias"), {q_rows});
    a.bk = w.get(n("self_attn.k_proj.bias"), {kvd});
    a.bv = w.get(n("self_attn.v_proj.bias"), {kvd});
  }
  if (c.o_bias) a.bo = w.get(n("self_attn.o_proj.bias"), {H});
  if (c.qk_norm) {
    a.q_norm = w.get(n("self_attn.q_norm.weight"), {D});
    a.k_norm = w.get(n("self_attn.k_norm.weight"), {D});
  }
  return a;
}

GdnWeights load_gdn(const WeightLoader& w, const ModelConfig& c, int i, WeightStorage storage) {
  auto n = [&](const char* s) { return WeightLoader::layer(i, s); };
  const int64_t H = c.hidden, NV = c.lin_v_heads, VD = NV * c.lin_v_dim;
  const int64_t C = 2 * int64_t(c.lin_k_heads) * c.lin_k_dim + VD;
  GdnWeights g;
  g.qkv = w.matrix(n("linear_attn.in_proj_qkv.weight"), C, H, storage);
  g.z = w.matrix(n("linear_attn.in_proj_z.weight"), VD, H, storage);
  g.b = w.matrix(n("linear_attn.in_proj_b.weight"), NV, H, storage);
  g.a = w.matrix(n("linear_attn.in_proj_a.weight"), NV, H, storage);
  g.conv = w.get(n("linear_attn.conv1d.weight"), {C, 1, c.conv_kernel});
  g.dt_bias = w.get(n("linear_attn.dt_bias"), {NV});
  g.A_log = w.get(n("linear_attn.A_log"), {NV});
  g.norm = w.get(n("linear_attn.norm.weight"), {c.lin_v_dim});
  g.out = w.matrix(n("linear_attn.out_proj.weight"), H, VD, storage);
  return g;
}

}  // namespace

DecoderWeights load_decoder_weights(const ModelConfig& c, const TensorSource& src,
                                    WeightStorage storage) {
  check_config(c);
  const WeightLoader w(src, c);
  const int64_t H = c.hidden, V = c.vocab_size, I = c.intermediate;
  DecoderWeights d;
  d.embed = w.matrix("model.embed_tokens.weight", V, H, storage);
  d.norm = w.get("model.norm.weight", {H});
  // Tied: the head is the embedding, as in HF, even when a checkpoint also stores lm_head.weight.
  if (!c.tie_embeddings) d.lm_head = w.matrix("lm_head.weight", V, H, storage);
  d.layers.resize(size_t(c.n_layers));
  for (int i = 0; i < c.n_layers; ++i) {
    LayerWeights& L = d.layers[size_t(i)];
    auto n = [&](const char* s) { return WeightLoader::layer(i, s); };
    L.type = c.layer_types[size_t(i)];
    L.input_norm = w.get(n("input_layernorm.weight"), {H});
    L.post_norm = w.get(n("post_attention_layernorm.weight"), {H});
    L.mlp.gate = w.matrix(n("mlp.gate_proj.weight"), I, H, storage);
    L.mlp.up = w.matrix(n("mlp.up_proj.weight"), I, H, storage);
    L.mlp.down = w.matrix(n("mlp.down_proj.weight"), H, I, storage);
    if (L.type == LayerType::linear_attention) {
      L.gdn = load_gdn(w, c, i, storage);
    } else {
      L.attention = load_attention(w, c, i, storage);
    }
  }
  return d;
}

}  // namespace spf
