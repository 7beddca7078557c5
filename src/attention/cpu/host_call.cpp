#include "attention/cpu/host_call.h"

#include "core/error.h"

namespace spf::detail {

namespace {

template <class T>
T* packed(const TensorView& t, const char* what, int layer) {
  SPF_CHECK(t.device == Device::cpu && t.dtype == DType::f32 && t.contiguous(),
            "CPU attention (layer ", layer, "): ", what,
            " must be f32 host memory with packed rows, got ", t.str());
  return t.data<T>();
}

}  // namespace

HostCall host_call(const AttentionCall& call, bool values) {
  const AttentionShape& s = call.shape;
  HostCall h;
  h.layer = call.layer;
  h.shape = s;
  if (values) {
    call.validate();
    h.v = packed<const float>(call.v, "v", call.layer);
    h.out = packed<float>(call.out, "out", call.layer);
    if (!call.lse.empty()) h.lse = packed<float>(call.lse, "lse", call.layer);
  } else {
    s.validate();
    call.q.expect("attention statistics: q", DType::f32, Device::cpu,
                  {s.n_q, s.n_heads, s.head_dim});
    call.k.expect("attention statistics: k", DType::f32, Device::cpu,
                  {-1, s.n_kv_heads, s.head_dim});
    SPF_CHECK(call.k.dim(0) >= s.n_kv, "attention statistics: k holds ", call.k.dim(0),
              " rows, fewer than n_kv = ", s.n_kv);
  }
  h.q = packed<const float>(call.q, "q", call.layer);
  h.k = packed<const float>(call.k, "k", call.layer);
  return h;
}

}  // namespace spf::detail
