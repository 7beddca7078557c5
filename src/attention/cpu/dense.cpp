#include "attention/cpu/dense.h"

#include <vector>

#include "attention/cpu/blas_threads.h"
#include "attention/cpu/online_softmax.h"
#include "attention/cpu/pack.h"
#include "core/error.h"
#include "core/threads.h"

namespace spf {

void dense_attention(const AttentionCall& call, const DenseOptions& options) {
  call.validate();
  SPF_CHECK(options.q_tile >= 1 && options.k_tile >= 1, "dense attention: q_tile = ", options.q_tile,
            ", k_tile = ", options.k_tile, " (both must be >= 1)");
  const AttentionShape& s = call.shape;
  const int g = s.group_size();
  const int d = s.head_dim;
  const int64_t n_tiles = (s.n_q + options.q_tile - 1) / options.q_tile;
  const int64_t ldkv = detail::kv_stride(s);

  detail::BlasSingleThread blas_guard;
  parallel_for(n_tiles * s.n_kv_heads, [&](int64_t item) {
    // Later query tiles see more keys: hand them out first for a better dynamic schedule.
    const int64_t tile = n_tiles - 1 - item / s.n_kv_heads;
    const int kvh = int(item % s.n_kv_heads);
    const int64_t i0 = tile * options.q_tile;
    const int nq = int(std::min<int64_t>(options.q_tile, s.n_q - i0));
    const int rows = nq * g;

    thread_local std::vector<float> qp;
    thread_local std::vector<int> valid;
    thread_local detail::OnlineSoftmax osm;
    qp.resize(size_t(rows) * size_t(d));
    valid.resize(size_t(rows));
    detail::pack_queries(s, call.q, i0, nq, kvh * g, g, qp.data());
    osm.begin(rows, d, qp.data(), s.scale);

    const int64_t last = s.q_pos0 + i0 + nq - 1;  // the tile's last query sees keys [0, last]
    const float* kh = call.k + detail::kv_offset(s, kvh);
    const float* vh = call.v + detail::kv_offset(s, kvh);
    for (int64_t k0 = 0; k0 <= last; k0 += options.k_tile) {
      const int nk = int(std::min<int64_t>(options.k_tile, last + 1 - k0));
      for (int r = 0; r < rows; ++r) valid[size_t(r)] = detail::causal_prefix(s.q_pos0 + i0 + r / g, k0, nk);
      osm.add(kh + k0 * ldkv, ldkv, vh + k0 * ldkv, ldkv, nk, valid.data());
    }
    for (int r = 0; r < rows; ++r) {
      const int64_t i = i0 + r / g;
      const int h = kvh * g + r % g;
      osm.finish_row(r, call.out + (i * s.n_heads + h) * d);
    }
  });
}

}  // namespace spf
