#include "support/producers/antidiagonal.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "attention/cpu/blas_threads.h"
#include "attention/cpu/fast_exp.h"
#include "core/error.h"
#include "core/threads.h"
#include "support/select.h"

namespace spf {

AntidiagonalProducer::AntidiagonalProducer(ProducerOptions options) : options_(options) {
  options_.validate();
  SPF_CHECK(options_.block >= options_.stride && options_.block % options_.stride == 0,
            "antidiagonal support: block size ", options_.block,
            " must be a multiple of the stride ", options_.stride,
            " (use block:", options_.stride * 8, " for instance)");
}

std::string AntidiagonalProducer::name() const {
  return describe_producer("antidiagonal", options_) +
         "[stride=" + std::to_string(options_.stride) + "]";
}

Support AntidiagonalProducer::produce(const AttentionCall& call) {
  call.shape.validate();
  SPF_CHECK(call.q != nullptr && call.k != nullptr, "antidiagonal support (layer ", call.layer,
            "): q and k must be set");
  const AttentionShape& s = call.shape;
  const int S = options_.stride, B = options_.block, R = B / S;  // R query/key runs per block
  const int d = s.head_dim, g = s.group_size(), sd = S * d;
  const int n_groups = n_groups_for(options_.groups, s);
  const Support layout = support_layout(s, B, B, n_groups);
  const int64_t n_rq = (s.n_q + S - 1) / S, n_rk = (s.n_kv + S - 1) / S;
  const int64_t n_rows = layout.n_rows(), n_cols = layout.n_cols();

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
  std::vector<std::vector<int32_t>> rows(size_t(n_groups) * size_t(n_rows));
  detail::BlasSingleThread blas_guard;
  parallel_for(n_items, [&](int64_t item) {
    const int64_t r0 = (n_items - 1 - item) * tile_blocks;
    const int64_t nr = std::min(tile_blocks, n_rows - r0);
    const int64_t a0 = r0 * R, a1 = std::min(n_rq, (r0 + nr) * R);  // query runs of the tile
    const int64_t na = a1 - a0;
    const int64_t tile_last = layout.row_last_pos(r0 + nr - 1);
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
    for (int grp = 0; grp < n_groups; ++grp) {
      for (int64_t r = 0; r < nr; ++r) {
        const RowGeometry geo = row_geometry(layout, r0 + r);
        const std::span<const float> score(acc.data() + (grp * nr + r) * n_cols, size_t(geo.avail));
        select_columns(options_.budget, geo, score, rows[size_t(grp * n_rows + r0 + r)]);
      }
    }
  });
  return support_from_rows(layout, std::move(rows));
}

}  // namespace spf
