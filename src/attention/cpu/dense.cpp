#include "attention/cpu/dense.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <vector>

#include "attention/cpu/host_call.h"
#include "attention/cpu/online_softmax.h"
#include "attention/cpu/pack.h"
#include "core/blas_threads.h"
#include "core/error.h"
#include "core/threads.h"

namespace spf {

namespace {

// One (query tile, KV head) work item, streaming its keys in [k_begin, k_end) (clipped to the
// tile's causal range) through the kernel.
struct Item {
  int64_t i0 = 0;  // first query of the tile
  int nq = 0;
  int kvh = 0;
  int64_t last() const {
    return i0 + nq - 1;
  }  // the tile's last query (index; + q_pos0 = position)
};

void stream(const detail::HostCall& call, const DenseOptions& o, const Item& it, int64_t k_begin,
            int64_t k_end, detail::OnlineSoftmax& osm, std::vector<float>& qp,
            std::vector<int>& valid) {
  const AttentionShape& s = call.shape;
  const int g = s.group_size(), d = s.head_dim, rows = it.nq * g;
  const int64_t ld = detail::kv_stride(s);
  qp.resize(size_t(rows) * size_t(d));
  valid.resize(size_t(rows));
  detail::pack_queries(s, call.q, it.i0, it.nq, it.kvh * g, g, qp.data());
  osm.begin(rows, d, qp.data(), s.scale);
  const float* kh = call.k + detail::kv_offset(s, it.kvh);
  const float* vh = call.v + detail::kv_offset(s, it.kvh);
  const int64_t end = std::min(k_end, s.q_pos0 + it.last() + 1);
  for (int64_t k0 = k_begin; k0 < end; k0 += o.k_tile) {
    const int nk = int(std::min<int64_t>(o.k_tile, end - k0));
    for (int r = 0; r < rows; ++r) {
      valid[size_t(r)] = detail::causal_prefix(s.q_pos0 + it.i0 + r / g, k0, nk);
    }
    osm.add(kh + k0 * ld, ld, vh + k0 * ld, ld, nk, valid.data());
  }
}

// Splits of the key range per item: only when there are fewer (tile, head) items than threads
// (decode, short continued prefill) and enough keys to share.
int64_t key_splits(const AttentionShape& s, int64_t items, const DenseOptions& o) {
  if (o.key_splits > 0) return o.key_splits;
  const int64_t threads = num_threads();
  if (items >= threads) return 1;
  const int64_t by_threads = (threads + items - 1) / items;
  const int64_t by_keys = s.n_kv / std::max<int64_t>(o.min_split_keys, o.k_tile);
  return std::max<int64_t>(1, std::min(by_threads, by_keys));
}

// Per-thread scratch of the work items.
struct Scratch {
  detail::OnlineSoftmax osm;
  std::vector<float> qp;
  std::vector<int> valid;
};
thread_local Scratch t_scratch;

// Items are handed out dynamically, so a thread may run its first item in any call (a decode step
// after a short prefill). The first call sizes every thread's scratch for full tiles (and a call
// with larger tiles or more threads than any before, again), so that later calls never allocate.
void reserve_scratch(int rows, int d, int k_tile) {
  static std::mutex mutex;
  static int reserved_rows = 0, reserved_d = 0, reserved_k = 0, reserved_threads = 0;
  const int threads = num_threads();
  std::lock_guard<std::mutex> lock(mutex);
  if (rows <= reserved_rows && d <= reserved_d && k_tile <= reserved_k &&
      threads <= reserved_threads)
    return;
  reserved_rows = std::max(rows, reserved_rows);
  reserved_d = std::max(d, reserved_d);
  reserved_k = std::max(k_tile, reserved_k);
  reserved_threads = std::max(threads, reserved_threads);
#pragma omp parallel
  {
    t_scratch.osm.reserve(reserved_rows, reserved_d, reserved_k);
    t_scratch.qp.reserve(size_t(reserved_rows) * size_t(reserved_d));
    t_scratch.valid.reserve(size_t(reserved_rows));
  }
}

}  // namespace

void dense_attention(const AttentionCall& attention_call, const DenseOptions& options) {
  const detail::HostCall call = detail::host_call(attention_call);
  SPF_CHECK(options.q_tile >= 1 && options.k_tile >= 1 && options.key_splits >= 0,
            "dense attention: q_tile = ", options.q_tile, ", k_tile = ", options.k_tile,
            ", key_splits = ", options.key_splits, " (tiles must be >= 1, splits >= 0)");
  const AttentionShape& s = call.shape;
  const int g = s.group_size(), d = s.head_dim;
  const int64_t n_tiles = (s.n_q + options.q_tile - 1) / options.q_tile;
  const int64_t items = n_tiles * s.n_kv_heads;
  auto item_at = [&](int64_t x) {
    // Later query tiles see more keys: hand them out first for a better dynamic schedule.
    Item it;
    it.i0 = (n_tiles - 1 - x / s.n_kv_heads) * options.q_tile;
    it.nq = int(std::min<int64_t>(options.q_tile, s.n_q - it.i0));
    it.kvh = int(x % s.n_kv_heads);
    return it;
  };
  auto row_index = [&](const Item& it, int r) {
    return (it.i0 + r / g) * s.n_heads + it.kvh * g + r % g;
  };
  auto out_row = [&](const Item& it, int r) { return call.out + row_index(it, r) * d; };
  const int64_t splits = key_splits(s, items, options);

  reserve_scratch(options.q_tile * g, d, options.k_tile);
  detail::BlasSingleThread blas_guard;
  if (splits == 1) {
    parallel_for(items, [&](int64_t x) {
      detail::OnlineSoftmax& osm = t_scratch.osm;
      const Item it = item_at(x);
      stream(call, options, it, 0, s.n_kv, osm, t_scratch.qp, t_scratch.valid);
      for (int r = 0; r < it.nq * g; ++r) {
        osm.finish_row(r, out_row(it, r));
        if (call.lse != nullptr) call.lse[row_index(it, r)] = osm.row_lse(r);
      }
    });
    return;
  }

  // Split keys: each (item, split) leaves per row [max, sum, acc[d]]; merged below.
  const int64_t rows_max = int64_t(options.q_tile) * g, width = d + 2;
  // Kept by the calling thread between calls: decode steps (the usual split case) allocate nothing.
  thread_local std::vector<float> partial;
  partial.resize(size_t(items * splits * rows_max * width));
  // Inside the parallel regions below, `partial` would name each worker's own (empty) thread_local
  // vector: the workers write and read the calling thread's through this pointer.
  float* const parts = partial.data();
  parallel_for(items * splits, [&](int64_t x) {
    detail::OnlineSoftmax& osm = t_scratch.osm;
    const Item it = item_at(x / splits);
    const int64_t span = s.q_pos0 + it.last() + 1;
    const int64_t chunk = (span + splits - 1) / splits;
    const int64_t k_begin = (x % splits) * chunk;
    stream(call, options, it, k_begin, k_begin + chunk, osm, t_scratch.qp, t_scratch.valid);
    float* p = parts + x * rows_max * width;
    for (int r = 0; r < it.nq * g; ++r, p += width) {
      p[0] = osm.row_sum(r) > 0.0f ? osm.row_max(r) : -INFINITY;
      p[1] = osm.row_sum(r);
      std::copy(osm.row_acc(r), osm.row_acc(r) + d, p + 2);
    }
  });
  parallel_for(items, [&](int64_t x) {
    const Item it = item_at(x);
    for (int r = 0; r < it.nq * g; ++r) {
      auto part = [&](int64_t sp) { return parts + ((x * splits + sp) * rows_max + r) * width; };
      float m = -INFINITY;
      for (int64_t sp = 0; sp < splits; ++sp) m = std::max(m, part(sp)[0]);
      float* out = out_row(it, r);
      std::fill(out, out + d, 0.0f);
      float l = 0.0f;
      for (int64_t sp = 0; sp < splits; ++sp) {
        const float* p = part(sp);
        if (!(p[1] > 0.0f)) continue;
        const float w = std::exp(p[0] - m);
        l += w * p[1];
        for (int c = 0; c < d; ++c) out[c] += w * p[2 + c];
      }
      if (l > 0.0f) {
        for (int c = 0; c < d; ++c) out[c] /= l;
      }
      if (call.lse != nullptr) call.lse[row_index(it, r)] = l > 0.0f ? m + std::log(l) : -INFINITY;
    }
  });
}

}  // namespace spf
