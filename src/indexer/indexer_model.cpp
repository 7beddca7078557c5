#include "indexer/indexer_model.h"

#include <cblas.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "model/config.h"

namespace spf {

std::string IndexerConfig::variant() const {
  return cat(rope_dims > 0 ? cat("rope", rope_dims, "of", d_idx) : cat("norope", d_idx), ",heads",
             n_heads, ",", n_groups == 1 ? "shared" : cat("kv", n_groups));
}

void IndexerConfig::validate() const {
  SPF_CHECK(d_model >= 1 && d_model <= (1 << 16), "indexer: d_model = ", d_model,
            " (must be in [1, 65536])");
  SPF_CHECK(n_layers >= 1 && n_layers <= 4096, "indexer: layers = ", n_layers,
            " (must be in [1, 4096])");
  SPF_CHECK(d_idx >= 2 && d_idx <= 1024, "indexer: d_idx = ", d_idx, " (must be in [2, 1024])");
  SPF_CHECK(rope_dims >= 0 && rope_dims <= d_idx && rope_dims % 2 == 0,
            "indexer: rope_dims = ", rope_dims, " (must be even and in [0, d_idx = ", d_idx, "])");
  SPF_CHECK(n_heads >= 1 && n_heads <= 64, "indexer: heads = ", n_heads, " (must be in [1, 64])");
  SPF_CHECK(n_groups >= 1 && n_groups <= 256, "indexer: groups = ", n_groups,
            " (must be in [1, 256])");
  SPF_CHECK(std::isfinite(rope_theta) && rope_theta > 0, "indexer: rope_theta = ", rope_theta,
            " (must be > 0)");
}

int64_t IndexerConfig::scorer_size() const {
  const int64_t dm = d_model;
  return wq_rows() * dm + int64_t(d_idx) * dm + (n_heads > 1 ? int64_t(n_heads) * dm : 0);
}

IndexerConfig indexer_config_for(const ModelConfig& model, int d_idx, int rope_dims, int n_heads,
                                 bool per_kv_group) {
  IndexerConfig c;
  c.d_model = model.hidden;
  c.n_layers = model.n_attention_layers();
  c.d_idx = d_idx;
  c.rope_dims = rope_dims;
  c.n_heads = n_heads;
  c.n_groups = per_kv_group ? model.n_kv_heads : 1;
  c.rope_theta = model.rope.theta;
  c.validate();
  return c;
}

int64_t param_offset(const IndexerConfig& c, int layer, int group, IndexerMatrix m) {
  const int64_t base = (int64_t(layer) * c.n_groups + group) * c.scorer_size();
  const int64_t dm = c.d_model;
  switch (m) {
    case IndexerMatrix::wq:
      return base;
    case IndexerMatrix::wk:
      return base + c.wq_rows() * dm;
    case IndexerMatrix::ww:
      return base + c.wq_rows() * dm + int64_t(c.d_idx) * dm;
  }
  return base;
}

const char* matrix_name(IndexerMatrix m) {
  switch (m) {
    case IndexerMatrix::wq:
      return "wq";
    case IndexerMatrix::wk:
      return "wk";
    case IndexerMatrix::ww:
      return "ww";
  }
  return "?";
}

IndexerWeights random_indexer(const IndexerConfig& config, uint64_t seed) {
  config.validate();
  IndexerWeights w;
  w.config = config;
  w.params.resize(size_t(config.total_size()));
  // Box-Muller over mt19937_64 (fully specified by the standard), not std::normal_distribution
  // (implementation-defined): the same seed gives the same weights with any standard library.
  std::mt19937_64 rng(seed);
  const double scale = 1.0 / std::sqrt(double(config.d_model));
  const double two_pi = 6.283185307179586;
  for (size_t i = 0; i < w.params.size(); i += 2) {
    const double u1 = (double(rng() >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
    const double u2 = double(rng() >> 11) * 0x1.0p-53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    w.params[i] = float(scale * r * std::cos(two_pi * u2));
    if (i + 1 < w.params.size()) w.params[i + 1] = float(scale * r * std::sin(two_pi * u2));
  }
  return w;
}

std::vector<float> indexer_inv_freq(const IndexerConfig& c) {
  std::vector<float> f(size_t(c.rope_dims / 2));
  for (int i = 0; i < c.rope_dims / 2; ++i)
    f[size_t(i)] = float(1.0 / std::pow(double(c.rope_theta), double(2 * i) / double(c.rope_dims)));
  return f;
}

void indexer_rope(const IndexerConfig& c, const std::vector<float>& inv_freq, float* x, int64_t n,
                  int64_t pos0, bool inverse) {
  const int half = c.rope_dims / 2;
  if (half == 0) return;
  const int d = c.d_idx;
  const float sign = inverse ? -1.0f : 1.0f;
#pragma omp parallel for if (n > 64)
  for (int64_t t = 0; t < n; ++t) {
    float* v = x + t * d;
    const float pos = float(double(pos0 + t));
    for (int i = 0; i < half; ++i) {
      const float ang = pos * inv_freq[size_t(i)];
      const float cs = std::cos(ang), sn = sign * std::sin(ang);
      const float a = v[i], b = v[i + half];
      v[i] = a * cs - b * sn;
      v[i + half] = b * cs + a * sn;
    }
  }
}

namespace {

// y[n][out] = x[n][in] W^T, W [out][in].
void project(const float* x, int64_t n, int64_t in, const float* w, int64_t out, float* y) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), int(out), int(in), 1.0f, x, int(in),
              w, int(in), 0.0f, y, int(out));
}

}  // namespace

void indexer_keys(const IndexerWeights& w, const std::vector<float>& inv_freq, int layer, int group,
                  const float* x, int64_t n, int64_t pos0, float* out) {
  const IndexerConfig& c = w.config;
  const float* wk = w.params.data() + param_offset(c, layer, group, IndexerMatrix::wk);
  project(x, n, c.d_model, wk, c.d_idx, out);
  indexer_rope(c, inv_freq, out, n, pos0, false);
}

void indexer_queries(const IndexerWeights& w, const std::vector<float>& inv_freq, int layer,
                     int group, const float* x, int64_t n, int64_t pos0, float* out,
                     float* heads_out, float* mix_out) {
  const IndexerConfig& c = w.config;
  const float* wq = w.params.data() + param_offset(c, layer, group, IndexerMatrix::wq);
  const int d = c.d_idx, H = c.n_heads;
  if (H == 1) {
    project(x, n, c.d_model, wq, d, out);
  } else {
    std::vector<float> own_heads, own_mix;
    if (heads_out == nullptr) {
      own_heads.resize(size_t(n * H * d));
      heads_out = own_heads.data();
    }
    if (mix_out == nullptr) {
      own_mix.resize(size_t(n * H));
      mix_out = own_mix.data();
    }
    const float* ww = w.params.data() + param_offset(c, layer, group, IndexerMatrix::ww);
    project(x, n, c.d_model, wq, int64_t(H) * d, heads_out);
    project(x, n, c.d_model, ww, H, mix_out);
#pragma omp parallel for if (n > 64)
    for (int64_t t = 0; t < n; ++t) {
      float* o = out + t * d;
      for (int e = 0; e < d; ++e) o[e] = 0.0f;
      for (int h = 0; h < H; ++h) {
        const float m = mix_out[t * H + h];
        const float* q = heads_out + (t * H + h) * d;
        for (int e = 0; e < d; ++e) o[e] += m * q[e];
      }
    }
  }
  indexer_rope(c, inv_freq, out, n, pos0, false);
}

}  // namespace spf
