#include "indexer/producer.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "attention/side_cache.h"
#include "core/error.h"
#include "support/select.h"

namespace spf {

namespace {
// Queries scored per matrix product: the tile's scores (rows x visible keys, f32) stay a few MB.
constexpr int64_t kScoreTileRows = 32;
}  // namespace

IndexerProducer::IndexerProducer(const std::string& path, ProducerOptions options)
    : IndexerProducer(std::make_shared<const IndexerFile>(load_indexer(path)), path, options) {}

IndexerProducer::IndexerProducer(std::shared_ptr<const IndexerFile> file, std::string path,
                                 ProducerOptions options)
    : file_(std::move(file)), path_(std::move(path)), options_(options) {
  options_.validate();
  const IndexerConfig& c = file_->weights.config;
  SPF_CHECK(options_.groups != GroupMode::per_head, "indexer ", path_,
            ": groups=head is not an indexer mode (the scorers are shared or per KV group)");
  SPF_CHECK((options_.groups == GroupMode::per_kv_group) == (c.n_groups > 1), "indexer ", path_,
            " has ", c.n_groups == 1 ? "one scorer per layer" : "per-KV-group scorers", ": use ",
            c.n_groups == 1 ? "groups=shared" : "groups=kv",
            " (the spec says groups=", group_mode_spelling(options_.groups), ")");
  inv_freq_ = indexer_inv_freq(c);
}

std::string IndexerProducer::name() const {
  return describe_producer("indexer", options_);
}

void IndexerProducer::check_call(const AttentionCall& call) const {
  const IndexerConfig& c = file_->weights.config;
  SPF_CHECK(call.device() == Device::cpu && call.hidden.dtype == DType::f32,
            "indexer: host f32 calls only");
  SPF_CHECK(call.hidden.ptr != nullptr && call.hidden.contiguous(), "indexer ", path_,
            ": the attention call carries no hidden input");
  SPF_CHECK(call.hidden.shape[1] == c.d_model, "indexer ", path_, ": trained on hidden size ",
            c.d_model, ", the model's is ", call.hidden.shape[1]);
  SPF_CHECK(call.attention_layer >= 0 && call.attention_layer < c.n_layers, "indexer ", path_,
            ": has ", c.n_layers, " layers, the model calls attention layer ",
            call.attention_layer);
  SPF_CHECK(c.n_groups == 1 || c.n_groups == call.shape.n_kv_heads, "indexer ", path_, ": ",
            c.n_groups, " KV groups, the model has ", call.shape.n_kv_heads);
  SPF_CHECK(call.side_cache != nullptr, "indexer: the attention call carries no side cache");
}

void IndexerProducer::observe(const AttentionCall& call) {
  check_call(call);
  const IndexerConfig& c = file_->weights.config;
  const int64_t n = call.shape.n_q, G = c.n_groups, d = c.d_idx;
  SideCache& cache = *call.side_cache;
  cache.ensure(G * d, DType::f32);
  SPF_CHECK(cache.rows() >= call.shape.q_pos0, "indexer: side cache holds ", cache.rows(),
            " rows, the call starts at ", call.shape.q_pos0);
  float* rows = cache.write(call.shape.q_pos0, n).data<float>();
  const float* x = call.hidden.data<float>();
  std::vector<float> k(size_t(n * d));
  for (int g = 0; g < G; ++g) {
    indexer_keys(file_->weights, inv_freq_, call.attention_layer, g, x, n, call.shape.q_pos0,
                 k.data());
    for (int64_t t = 0; t < n; ++t) std::copy_n(k.data() + t * d, d, rows + (t * G + g) * d);
  }
}

Support IndexerProducer::produce(const AttentionCall& call, AttentionExecutor& executor) {
  (void)executor;
  call.shape.validate();
  check_call(call);
  const IndexerConfig& c = file_->weights.config;
  const int64_t n = call.shape.n_q, G = c.n_groups, d = c.d_idx;
  SPF_CHECK(call.side_cache->rows() >= call.shape.n_kv, "indexer: side cache holds ",
            call.side_cache->rows(), " rows, the call sees ", call.shape.n_kv, " keys");
  const float* keys = call.side_cache->prefix(call.shape.n_kv).data<float>();
  const float* x = call.hidden.data<float>();
  std::vector<float> q(size_t(G * n * d));
  for (int g = 0; g < G; ++g)
    indexer_queries(file_->weights, inv_freq_, call.attention_layer, int(g), x, n,
                    call.shape.q_pos0, q.data() + size_t(g * n * d));

  const int B = options_.block;
  const Support layout = support_layout(call.shape, B, B, int(G));
  const float inv_sqrt_d = 1.0f / std::sqrt(float(d));
  auto dot = [&](const float* a, int64_t j, int g) {
    const float* b = keys + (j * G + g) * d;
    float acc = 0;
#pragma omp simd reduction(+ : acc)
    for (int64_t e = 0; e < d; ++e) acc += a[e] * b[e];
    return acc;
  };
  if (B == 1) {
    // A tile of queries against every key its last query sees, in one matrix product (the scores
    // of keys past a row's own causal end are computed and ignored).
    return select_support_tiled(layout, options_.budget, kScoreTileRows,
                                [&](int g, int64_t r0, int64_t r1, float* out, int64_t ld) {
                                  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(r1 - r0),
                                              int(ld), int(d), 1.0f,
                                              q.data() + size_t((g * n + r0) * d), int(d),
                                              keys + g * d, int(G * d), 0.0f, out, int(ld));
                                });
  }
  return select_support(layout, options_.budget, [&](int g, int64_t r, std::span<float> out) {
    // The block's pooled query; each key block scored by log-sum-exp over its visible keys.
    const int64_t i0 = r * B, i1 = std::min(n, i0 + B);
    std::vector<float> pooled(size_t(d), 0.0f);
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t e = 0; e < d; ++e) pooled[size_t(e)] += q[size_t((g * n + i) * d + e)];
    for (float& v : pooled) v /= float(i1 - i0);
    const int64_t last = call.shape.q_pos0 + i1 - 1;
    std::vector<float> z(static_cast<size_t>(B));
    for (size_t cb = 0; cb < out.size(); ++cb) {
      const int64_t j0 = int64_t(cb) * B, j1 = std::min(last + 1, j0 + B);
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t j = j0; j < j1; ++j) {
        z[size_t(j - j0)] = dot(pooled.data(), j, g) * inv_sqrt_d;
        m = std::max(m, z[size_t(j - j0)]);
      }
      double s = 0;
      for (int64_t j = j0; j < j1; ++j) s += std::exp(double(z[size_t(j - j0)] - m));
      out[cb] = m + float(std::log(s));
    }
  });
}

namespace {

std::unique_ptr<SupportProducer> make_indexer(const MethodSpec& spec,
                                              const ProducerOptions& options) {
  return std::make_unique<IndexerProducer>(spec.path, options);
}

}  // namespace

void install_indexer_method() {
  register_producer_factory("indexer", &make_indexer);
}

}  // namespace spf
