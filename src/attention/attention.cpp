#include "attention/attention.h"

#include <string>

#include "core/error.h"

namespace spf {

void AttentionShape::validate() const {
  SPF_CHECK(n_q >= 1, "attention shape: n_q = ", n_q, " (need at least one query)");
  SPF_CHECK(q_pos0 >= 0, "attention shape: q_pos0 = ", q_pos0, " is negative");
  SPF_CHECK(n_kv >= q_pos0 + n_q, "attention shape: n_kv = ", n_kv,
            " < q_pos0 + n_q = ", q_pos0 + n_q,
            " (queries would see keys that are not in the cache)");
  SPF_CHECK(n_heads >= 1 && n_kv_heads >= 1, "attention shape: n_heads = ", n_heads,
            ", n_kv_heads = ", n_kv_heads, " (both must be >= 1)");
  SPF_CHECK(n_heads % n_kv_heads == 0, "attention shape: n_heads = ", n_heads,
            " is not a multiple of n_kv_heads = ", n_kv_heads);
  SPF_CHECK(head_dim >= 1, "attention shape: head_dim = ", head_dim, " (must be >= 1)");
  SPF_CHECK(scale > 0.0f && scale == scale, "attention shape: scale = ", scale, " (must be > 0)");
}

void AttentionCall::validate() const {
  shape.validate();
  const AttentionShape& s = shape;
  // The "attention call (layer L) " prefix is only built when a check fails: validation runs on
  // every call, decode steps included, which must not allocate.
  auto expect = [&](const TensorView& t, const char* what, DType dt,
                    std::initializer_list<int64_t> dims) {
    try {
      t.expect(what, dt, q.device, dims);
    } catch (const Error& e) {
      fail("attention call (layer ", layer, ") ", e.what());
    }
  };
  expect(q, "q", q.dtype, {s.n_q, s.n_heads, s.head_dim});
  expect(k, "k", q.dtype, {-1, s.n_kv_heads, s.head_dim});
  expect(v, "v", q.dtype, {-1, s.n_kv_heads, s.head_dim});
  SPF_CHECK(k.dim(0) >= s.n_kv && v.dim(0) >= s.n_kv, "attention call (layer ", layer,
            ") k/v hold ", k.dim(0), "/", v.dim(0), " rows, fewer than n_kv = ", s.n_kv);
  expect(out, "out", q.dtype, {s.n_q, s.n_heads, s.head_dim});
  if (!lse.empty()) expect(lse, "lse", DType::f32, {s.n_q, s.n_heads});
  if (!hidden.empty()) expect(hidden, "hidden", hidden.dtype, {s.n_q, -1});
  SPF_CHECK(cu_seqlens_q.empty() && cu_seqlens_k.empty(), "attention call (layer ", layer,
            ") has cu_seqlens: batched (varlen) calls are not implemented yet");
}

AttentionCall AttentionCall::query_slice(int64_t i0, int64_t n) const {
  SPF_CHECK(i0 >= 0 && n >= 1 && i0 + n <= shape.n_q, "attention call: query slice [", i0, ", ",
            i0 + n, ") of ", shape.n_q, " queries");
  AttentionCall c = *this;
  c.shape.n_q = n;
  c.shape.q_pos0 = shape.q_pos0 + i0;
  c.q = q.rows(i0, n);
  if (!out.empty()) c.out = out.rows(i0, n);
  if (!lse.empty()) c.lse = lse.rows(i0, n);
  if (!hidden.empty()) c.hidden = hidden.rows(i0, n);
  return c;
}

}  // namespace spf
