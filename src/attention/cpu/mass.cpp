#include "attention/cpu/mass.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>

#include "attention/cpu/host_call.h"
#include "attention/cpu/online_softmax.h"
#include "attention/cpu/pack.h"
#include "core/blas_threads.h"
#include "core/error.h"
#include "core/fast_exp.h"
#include "core/threads.h"

namespace spf {

namespace {

detail::HostCall check(const AttentionCall& call, const MassOptions& o) {
  SPF_CHECK(o.q_tile >= 1 && o.k_tile >= 1, "attention mass: q_tile = ", o.q_tile,
            ", k_tile = ", o.k_tile, " (both must be >= 1)");
  return detail::host_call(call, false);
}

}  // namespace

int mass_slots() {
  return num_threads();
}

RowStats row_stats(const AttentionCall& attention_call, const MassOptions& o) {
  const detail::HostCall call = check(attention_call, o);
  const AttentionShape& s = call.shape;
  const int g = s.group_size();
  const int d = s.head_dim;
  const int64_t ld = detail::kv_stride(s);
  const int64_t n_tiles = (s.n_q + o.q_tile - 1) / o.q_tile;
  RowStats st;
  st.n_q = s.n_q;
  st.n_heads = s.n_heads;
  st.max.assign(size_t(s.n_q) * size_t(s.n_heads), 0.0f);
  st.lse.assign(st.max.size(), 0.0f);

  detail::BlasSingleThread blas_guard;
  parallel_for(n_tiles * s.n_kv_heads, [&](int64_t item) {
    const int64_t i0 = (n_tiles - 1 - item / s.n_kv_heads) * o.q_tile;
    const int kvh = int(item % s.n_kv_heads);
    const int nq = int(std::min<int64_t>(o.q_tile, s.n_q - i0));
    const int rows = nq * g;
    thread_local std::vector<float> qp;
    thread_local std::vector<int> valid;
    thread_local detail::OnlineSoftmax osm;
    qp.resize(size_t(rows) * size_t(d));
    valid.resize(size_t(rows));
    detail::pack_queries(s, call.q, i0, nq, kvh * g, g, qp.data());
    osm.begin(rows, d, qp.data(), s.scale);
    const int64_t last = s.q_pos0 + i0 + nq - 1;
    for (int64_t k0 = 0; k0 <= last; k0 += o.k_tile) {
      const int nk = int(std::min<int64_t>(o.k_tile, last + 1 - k0));
      for (int r = 0; r < rows; ++r)
        valid[size_t(r)] = detail::causal_prefix(s.q_pos0 + i0 + r / g, k0, nk);
      osm.add(call.k + k0 * ld + detail::kv_offset(s, kvh), ld, nullptr, 0, nk, valid.data());
    }
    for (int r = 0; r < rows; ++r) {
      const size_t at = size_t((i0 + r / g) * s.n_heads + kvh * g + r % g);
      st.max[at] = osm.row_max(r);
      st.lse[at] = osm.row_lse(r);
    }
  });
  return st;
}

void visit_probabilities(const AttentionCall& attention_call, const RowStats& stats,
                         ProbVisitor& visitor, const MassOptions& o) {
  const detail::HostCall call = check(attention_call, o);
  const AttentionShape& s = call.shape;
  SPF_CHECK(stats.n_q == s.n_q && stats.n_heads == s.n_heads &&
                stats.lse.size() == size_t(s.n_q) * size_t(s.n_heads),
            "attention mass: row statistics are for n_q = ", stats.n_q,
            ", n_heads = ", stats.n_heads, " but the call has n_q = ", s.n_q,
            ", n_heads = ", s.n_heads);
  const int g = s.group_size();
  const int d = s.head_dim;
  const int64_t ld = detail::kv_stride(s);
  const int64_t n_tiles = (s.n_q + o.q_tile - 1) / o.q_tile;

  detail::BlasSingleThread blas_guard;
  parallel_for(n_tiles, [&](int64_t item) {
    const int64_t i0 = (n_tiles - 1 - item) * o.q_tile;
    const int nq = int(std::min<int64_t>(o.q_tile, s.n_q - i0));
    const int rows = nq * g;
    thread_local std::vector<float> qp, sc, p;
    qp.resize(size_t(s.n_kv_heads) * size_t(rows) * size_t(d));
    sc.resize(size_t(rows) * size_t(o.k_tile));
    p.resize(size_t(s.n_heads) * size_t(nq) * size_t(o.k_tile));
    for (int kvh = 0; kvh < s.n_kv_heads; ++kvh) {
      detail::pack_queries(s, call.q, i0, nq, kvh * g, g, qp.data() + size_t(kvh) * rows * d);
    }
    const int slot = omp_get_thread_num();
    const int64_t last = s.q_pos0 + i0 + nq - 1;
    for (int64_t k0 = 0; k0 <= last; k0 += o.k_tile) {
      const int nk = int(std::min<int64_t>(o.k_tile, last + 1 - k0));
      for (int kvh = 0; kvh < s.n_kv_heads; ++kvh) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, nk, d, s.scale,
                    qp.data() + size_t(kvh) * rows * d, d,
                    call.k + k0 * ld + detail::kv_offset(s, kvh), int(ld), 0.0f, sc.data(), nk);
        for (int r = 0; r < rows; ++r) {
          const int64_t i = r / g;
          const int h = kvh * g + r % g;
          const int n = detail::causal_prefix(s.q_pos0 + i0 + i, k0, nk);
          const float lse = stats.lse_at(i0 + i, h);
          const float* src = sc.data() + size_t(r) * nk;
          float* dst = p.data() + (size_t(h) * nq + size_t(i)) * nk;
          detail::exp_shifted_to(src, dst, n, lse);
          std::fill(dst + n, dst + nk, 0.0f);
        }
      }
      ProbTile t;
      t.q0 = i0;
      t.nq = nq;
      t.k0 = k0;
      t.nk = nk;
      t.n_heads = s.n_heads;
      t.slot = slot;
      t.p = p.data();
      visitor.tile(t);
    }
    visitor.rows_done(i0, nq, slot);
  });
}

}  // namespace spf
