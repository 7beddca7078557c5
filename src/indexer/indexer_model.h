// The head-collapsed indexer: per attention layer (and, in the per-KV-group variant, per KV group),
// a small scorer of the layer's normalised input x (AttentionCall::hidden):
//   k_j  = rope(Wk x_j)                                   [d_idx]
//   q_i  = rope(sum_h w_ih Wq_h x_i),  w_ih = Ww_h . x_i  [d_idx]  (n_heads > 1: lightning form)
//   q_i  = rope(Wq x_i)                                            (n_heads == 1)
//   z_ij = q_i . k_j / sqrt(d_idx),  p_i = softmax_j<=i(z_ij)
// RoPE (rotate-half pairing, the model's theta) turns the first rope_dims of q and k; the others
// are position-free. One scorer serves every head of the layer (shared) or of one KV group.
// Because the lightning form's head weights are per query, q_i is quadratic in x_i while the score
// stays one dot product per key: serving cost equals the single-head form.
//
// All parameters live in one flat f32 vector (the optimizer's view); param_offset() names each
// matrix's place. Matrices are [out][in] row-major as in PyTorch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace spf {

struct ModelConfig;

struct IndexerConfig {
  int d_model = 0;   // the backbone's hidden size
  int n_layers = 0;  // the backbone's attention layers (one scorer set each)
  int d_idx = 64;
  int rope_dims = 32;  // even, <= d_idx; 0: position-free
  int n_heads = 1;     // indexer heads mixed by learned per-token weights (1: plain)
  int n_groups = 1;    // 1: one scorer per layer; n_kv_heads: one per KV group
  float rope_theta = 10000.0f;

  // "rope32of64,heads1,shared" for reports.
  std::string variant() const;
  // Throws spf::Error naming the bad field.
  void validate() const;
  bool operator==(const IndexerConfig&) const = default;

  int64_t wq_rows() const { return int64_t(n_heads) * d_idx; }
  // Floats of one scorer (one layer, one group): wq, wk, and ww when n_heads > 1.
  int64_t scorer_size() const;
  int64_t total_size() const { return scorer_size() * n_layers * n_groups; }
};

// The indexer config for a backbone: its hidden size, attention layers and RoPE theta.
IndexerConfig indexer_config_for(const ModelConfig& model, int d_idx, int rope_dims, int n_heads,
                                 bool per_kv_group);

enum class IndexerMatrix { wq, wk, ww };

// Offset of a matrix of scorer (layer, group) in the flat parameter vector.
int64_t param_offset(const IndexerConfig& c, int layer, int group, IndexerMatrix m);
const char* matrix_name(IndexerMatrix m);

struct IndexerWeights {
  IndexerConfig config;
  std::vector<float> params;  // total_size()

  const float* scorer(int layer, int group) const {
    return params.data() + param_offset(config, layer, group, IndexerMatrix::wq);
  }
};

// Gaussian init, std 1/sqrt(d_model) (scores of O(1) on normalised inputs), from a seed; the same
// seed gives the same bits everywhere.
IndexerWeights random_indexer(const IndexerConfig& config, uint64_t seed);

// The scorer's RoPE: inverse frequencies of the rotated dims, and rotation of rows in place
// (inverse = true rotates back: the transpose, for gradients). x is [n][d_idx]; row t has position
// pos0 + t.
std::vector<float> indexer_inv_freq(const IndexerConfig& c);
void indexer_rope(const IndexerConfig& c, const std::vector<float>& inv_freq, float* x, int64_t n,
                  int64_t pos0, bool inverse);

// Projections of n rows of x [n][d_model] at positions pos0.. by scorer (layer, group).
// keys: out [n][d_idx] (rope applied).
void indexer_keys(const IndexerWeights& w, const std::vector<float>& inv_freq, int layer, int group,
                  const float* x, int64_t n, int64_t pos0, float* out);
// queries: out [n][d_idx] (mixed over heads, rope applied). When heads_out / mix_out are given
// (training), they receive the per-head projections [n][n_heads * d_idx] and head weights
// [n][n_heads] before mixing (n_heads > 1 only).
void indexer_queries(const IndexerWeights& w, const std::vector<float>& inv_freq, int layer,
                     int group, const float* x, int64_t n, int64_t pos0, float* out,
                     float* heads_out = nullptr, float* mix_out = nullptr);

}  // namespace spf
