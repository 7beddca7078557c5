#include "attention/cpu/antidiagonal.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "attention/cpu/host_call.h"
#include "attention/support_view.h"
#include "core/blas_threads.h"
#include "core/error.h"
#include "core/fast_exp.h"
#include "core/threads.h"

namespace spf {

void cpu_antidiagonal_scores(const AttentionCall& attention_call, const BlockMassSpec& spec,
                             int stride, BlockMassConsumer& consumer) {
  const detail::HostCall call = detail::host_call(attention_call, false);
  const AttentionShape& s = call.shape;
  SPF_CHECK(stride >= 1 && spec.q_block == spec.k_block && spec.q_block >= stride &&
                spec.q_block % stride == 0,
            "antidiagonal scores: block ", spec.q_block, " x ", spec.k_block,
            " must be square and a multiple of the stride ", stride);
  group_of_head(0, spec.n_groups, s.n_heads, s.n_kv_heads);  // throws for an unusable group count
  const int S = stride, B = spec.q_block, R = B / S;         // R query/key runs per block
  const int d = s.head_dim, g = s.group_size(), sd = S * d;
  const int n_groups = spec.n_groups;
  const int64_t n_rq = (s.n_q + S - 1) / S, n_rk = (s.n_kv + S - 1) / S;
  const int64_t n_rows = (s.n_q + B - 1) / B, n_cols = (s.n_kv + B - 1) / B;

  // Runs packed once: qr[a][h] = q[aS + S-1], ..., q[aS] (reversed); kr[b][kvh] = k[bS], ..., k[bS
  // + S-1].
  std::vector<float> qr(size_t(n_rq) * size_t(s.n_heads) * size_t(sd), 0.0f);
  std::vector<float> kr(size_t(n_rk) * size_t(s.n_kv_heads) * size_t(sd), 0.0f);
  parallel_for(n_rq, [&](int64_t a) {
    for (int h = 0; h < s.n_heads; ++h) {
      for (int t = 0; t < S; ++t) {
        const int64_t i = a * S + S - 1 - t;
        if (i >= s.n_q) continue;
        const float* src = call.q + (i * s.n_heads + h) * d;
        std::copy(src, src + d, qr.data() + ((a * s.n_heads + h) * sd + int64_t(t) * d));
      }
    }
  });
  parallel_for(n_rk, [&](int64_t b) {
    for (int h = 0; h < s.n_kv_heads; ++h) {
      for (int t = 0; t < S; ++t) {
        const int64_t j = b * S + t;
        if (j >= s.n_kv) continue;
        const float* src = call.k + (j * s.n_kv_heads + h) * d;
        std::copy(src, src + d, kr.data() + ((b * s.n_kv_heads + h) * sd + int64_t(t) * d));
      }
    }
  });

  std::vector<int> group(size_t(s.n_heads));
  std::vector<float> weight(size_t(s.n_heads));
  {
    std::vector<int> members(size_t(n_groups), 0);
    for (int h = 0; h < s.n_heads; ++h) {
      group[size_t(h)] = group_of_head(h, n_groups, s.n_heads, s.n_kv_heads);
      ++members[size_t(group[size_t(h)])];
    }
    for (int h = 0; h < s.n_heads; ++h)
      weight[size_t(h)] = 1.0f / float(members[size_t(group[size_t(h)])]);
  }

  // A work item is a tile of query blocks (about 32 query runs), all heads.
  const int64_t tile_blocks = std::max<int64_t>(1, 32 / R);
  const int64_t n_items = (n_rows + tile_blocks - 1) / tile_blocks;
  detail::BlasSingleThread blas_guard;
  parallel_for(n_items, [&](int64_t item) {
    const int64_t r0 = (n_items - 1 - item) * tile_blocks;
    const int64_t nr = std::min(tile_blocks, n_rows - r0);
    const int64_t a0 = r0 * R, a1 = std::min(n_rq, (r0 + nr) * R);  // query runs of the tile
    const int64_t na = a1 - a0;
    const int64_t tile_last = s.q_pos0 + std::min((r0 + nr) * B, s.n_q) - 1;
    const int64_t nb = std::min(n_rk, tile_last / S + 1);  // key runs any run of the tile may see
    thread_local std::vector<float> qp, sc, acc;
    qp.resize(size_t(na) * size_t(g) * size_t(sd));
    sc.resize(size_t(na) * size_t(g) * size_t(nb));
    acc.assign(size_t(n_groups) * size_t(nr) * size_t(n_cols), 0.0f);
    for (int kvh = 0; kvh < s.n_kv_heads; ++kvh) {
      for (int64_t a = 0; a < na; ++a) {
        const float* src = qr.data() + ((a0 + a) * s.n_heads + int64_t(kvh) * g) * sd;
        std::copy(src, src + int64_t(g) * sd, qp.data() + a * g * sd);
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(na * g), int(nb), sd, s.scale,
                  qp.data(), sd, kr.data() + int64_t(kvh) * sd, s.n_kv_heads * sd, 0.0f, sc.data(),
                  int(nb));
      for (int64_t x = 0; x < na * g; ++x) {
        const int64_t a = a0 + x / g;
        const int h = kvh * g + int(x % g);
        const int64_t last = s.q_pos0 + std::min<int64_t>((a + 1) * S, s.n_q) - 1;
        const int64_t vis = std::min(nb, last / S + 1);
        float* row = sc.data() + x * nb;
        softmax_inplace(row, int(vis));
        const float w = weight[size_t(h)];
        float* dst = acc.data() + (group[size_t(h)] * nr + (a * S) / B - r0) * n_cols;
        for (int64_t c = 0; c * R < vis; ++c) {  // key block c holds key runs [c R, c R + R)
          float sum = 0.0f;
          for (int64_t b = c * R; b < std::min<int64_t>(vis, (c + 1) * R); ++b) sum += row[b];
          dst[c] += w * sum;
        }
      }
    }
    BlockMassRows rows;
    rows.row0 = r0;
    rows.n_rows = nr;
    rows.n_cols = n_cols;
    rows.n_groups = n_groups;
    rows.slot = omp_get_thread_num();
    rows.mass = acc.data();
    consumer.on_rows(rows);
  });
}

}  // namespace spf
