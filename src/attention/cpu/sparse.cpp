#include "attention/cpu/sparse.h"

#include <algorithm>
#include <variant>
#include <vector>

#include "attention/cpu/host_call.h"
#include "attention/cpu/online_softmax.h"
#include "attention/cpu/pack.h"
#include "core/blas_threads.h"
#include "core/error.h"
#include "core/threads.h"

namespace spf {

namespace {

// O(1): the support's geometry fits the call; its arrays were validated already.
void check_fits(const AttentionShape& s, const SupportDims& sv) {
  SPF_CHECK(sv.n_q == s.n_q && sv.n_kv == s.n_kv && sv.q_pos0 == s.q_pos0,
            "sparse attention: support is for n_q = ", sv.n_q, ", n_kv = ", sv.n_kv,
            ", q_pos0 = ", sv.q_pos0, " but the call has n_q = ", s.n_q, ", n_kv = ", s.n_kv,
            ", q_pos0 = ", s.q_pos0);
  group_of_head(0, sv.n_groups, s.n_heads, s.n_kv_heads);  // throws for an unusable group count
}

// Per-thread buffers, reused across work items.
struct Scratch {
  std::vector<float> qp, kg, vg;
  std::vector<int64_t> limits, pos;
  std::vector<int> valid;
  detail::OnlineSoftmax osm;
};

// Streams one support row's keys through the kernel: contiguous runs of at least min_direct_run
// keys in place (sgemm on the K/V arrays), the rest gathered into packed tiles (ascending
// positions, as the kernel requires). Gathering beats reading scattered rows in place even for
// single-query rows: the copy loop keeps many independent loads in flight.
class RowStreamer {
 public:
  RowStreamer(const detail::HostCall& call, const SparseOptions& o, int kvh, Scratch& w)
      : o_(o),
        osm_(w.osm),
        limits_(w.limits),
        kg_(w.kg),
        vg_(w.vg),
        pos_(w.pos),
        valid_(w.valid),
        ld_(detail::kv_stride(call.shape)),
        d_(call.shape.head_dim),
        k_(call.k + detail::kv_offset(call.shape, kvh)),
        v_(call.v + detail::kv_offset(call.shape, kvh)) {
    kg_.resize(size_t(o.k_tile) * size_t(d_));
    vg_.resize(size_t(o.k_tile) * size_t(d_));
    pos_.resize(size_t(o.k_tile));
    valid_.resize(limits_.size());
  }

  // Keys [a, b).
  void run(int64_t a, int64_t b) {
    if (b - a >= o_.min_direct_run) {
      for (int64_t t = a; t < b; t += o_.k_tile) {
        const int nk = int(std::min<int64_t>(o_.k_tile, b - t));
        for (size_t r = 0; r < limits_.size(); ++r) {
          valid_[r] = detail::causal_prefix(limits_[r], t, nk);
        }
        osm_.add(k_ + t * ld_, ld_, v_ + t * ld_, ld_, nk, valid_.data());
      }
      return;
    }
    for (int64_t j = a; j < b; ++j) {
      std::copy(k_ + j * ld_, k_ + j * ld_ + d_, kg_.data() + size_t(n_) * size_t(d_));
      std::copy(v_ + j * ld_, v_ + j * ld_ + d_, vg_.data() + size_t(n_) * size_t(d_));
      pos_[size_t(n_)] = j;
      if (++n_ == o_.k_tile) flush();
    }
  }

  void flush() {
    if (n_ == 0) return;
    for (size_t r = 0; r < limits_.size(); ++r) {
      valid_[r] = int(std::upper_bound(pos_.begin(), pos_.begin() + n_, limits_[r]) - pos_.begin());
    }
    osm_.add(kg_.data(), d_, vg_.data(), d_, n_, valid_.data());
    n_ = 0;
  }

 private:
  const SparseOptions& o_;
  detail::OnlineSoftmax& osm_;
  const std::vector<int64_t>& limits_;
  std::vector<float>& kg_;
  std::vector<float>& vg_;
  std::vector<int64_t>& pos_;
  std::vector<int>& valid_;
  int64_t ld_;
  int d_;
  const float* k_;
  const float* v_;
  int n_ = 0;
};

// The executor proper, for any layout whose row(g, r) yields a row's ascending columns.
template <class View>
void run_sparse(const detail::HostCall& call, const View& support, const SparseOptions& options) {
  const AttentionShape& s = call.shape;
  const int g = s.group_size();
  const int d = s.head_dim;
  // Heads that read the same support row and the same KV head share one work item.
  const int hp = (support.n_groups == s.n_heads && g > 1) ? 1 : g;
  const int64_t n_rows = support.n_rows();
  const int64_t n_head_items = s.n_heads / hp;
  const int64_t kb = support.k_block;

  detail::BlasSingleThread blas_guard;
  parallel_for(n_rows * n_head_items, [&](int64_t item) {
    const int64_t r = n_rows - 1 - item / n_head_items;  // long rows first
    const int h0 = int(item % n_head_items) * hp;
    const int kvh = s.kv_head_of(h0);
    const int grp = group_of_head(h0, support.n_groups, s.n_heads, s.n_kv_heads);
    const int64_t i0 = r * support.q_block;
    const int nq = int(std::min<int64_t>(support.q_block, s.n_q - i0));
    const int rows = nq * hp;

    thread_local Scratch w;
    w.qp.resize(size_t(rows) * size_t(d));
    w.limits.resize(size_t(rows));
    for (int rr = 0; rr < rows; ++rr) w.limits[size_t(rr)] = s.q_pos0 + i0 + rr / hp;
    detail::pack_queries(s, call.q, i0, nq, h0, hp, w.qp.data());
    w.osm.begin(rows, d, w.qp.data(), s.scale);

    RowStreamer stream(call, options, kvh, w);
    const int64_t end_pos =
        std::min(s.n_kv, s.q_pos0 + i0 + nq);  // one past the row's last visible key
    int64_t run_a = 0, run_b = 0;
    for (const int32_t c : support.row(grp, r)) {
      const int64_t a = int64_t(c) * kb;
      const int64_t b = std::min(a + kb, end_pos);
      if (a >= b) continue;
      if (a == run_b && run_b > run_a) {
        run_b = b;  // extends the current run
      } else {
        if (run_b > run_a) stream.run(run_a, run_b);
        run_a = a;
        run_b = b;
      }
    }
    if (run_b > run_a) stream.run(run_a, run_b);
    stream.flush();

    for (int rr = 0; rr < rows; ++rr) {
      const int64_t i = i0 + rr / hp;
      const int h = h0 + rr % hp;
      w.osm.finish_row(rr, call.out + (i * s.n_heads + h) * d);
      if (call.lse != nullptr) call.lse[i * s.n_heads + h] = w.osm.row_lse(rr);
    }
  });
}

}  // namespace

void sparse_attention(const AttentionCall& attention_call, const ValidatedSupport& support,
                      const SparseOptions& options) {
  const detail::HostCall call = detail::host_call(attention_call);
  check_fits(call.shape, support.dims());
  SPF_CHECK(options.k_tile >= 1 && options.min_direct_run >= 1,
            "sparse attention: k_tile = ", options.k_tile,
            ", min_direct_run = ", options.min_direct_run, " (both must be >= 1)");
  std::visit([&](const auto& view) { run_sparse(call, view, options); }, support.view());
}

namespace {

// Checks the cheap things first so that a view for another call is not scanned with its sizes.
template <class View>
void validate_then_run(const AttentionCall& call, const View& view, const SparseOptions& options) {
  call.validate();
  check_fits(call.shape, view);
  sparse_attention(call, validate_support(view), options);
}

}  // namespace

void sparse_attention(const AttentionCall& call, const SupportView& support,
                      const SparseOptions& options) {
  validate_then_run(call, support, options);
}

void sparse_attention(const AttentionCall& call, const TopKSupportView& support,
                      const SparseOptions& options) {
  validate_then_run(call, support, options);
}

void sparse_attention(const AttentionCall& call, const BsrSupportView& support,
                      const SparseOptions& options) {
  validate_then_run(call, support, options);
}

}  // namespace spf
