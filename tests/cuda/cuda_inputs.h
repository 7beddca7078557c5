// Device copies of the attention tests' random inputs (bf16), and the comparison against the CPU
// executor run on the same bf16-rounded values in f32.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "attention/attention_inputs.h"
#include "attention/cuda/cuda_executor.h"
#include "core/buffer.h"
#include "core/half.h"

namespace spf::test {

#define SPF_REQUIRE_CUDA_DEVICE() \
  if (!::spf::cuda_device_present()) GTEST_SKIP() << "no CUDA device"

inline void round_to_bf16(std::vector<float>& x) {
  for (float& e : x) e = bf16_to_f32(f32_to_bf16(e));
}

inline Buffer upload_bf16(const std::vector<float>& x) {
  std::vector<uint16_t> bits(x.size());
  for (size_t i = 0; i < x.size(); ++i) bits[i] = f32_to_bf16(x[i]);
  Buffer b(Device::cuda, bits.size() * 2);
  cuda_copy_to_device(b.data(), bits.data(), bits.size() * 2);
  return b;
}

inline std::vector<float> download_bf16(const Buffer& b, size_t n) {
  std::vector<uint16_t> bits(n);
  cuda_copy_to_host(bits.data(), b.data(), n * 2);
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = bf16_to_f32(bits[i]);
  return out;
}

// Host inputs rounded to bf16 (the reference's inputs) and their device twins; out and lse are
// poisoned with NaN so that every element must be written.
struct DeviceAttn {
  AttnInputs host;
  std::vector<float> host_lse;
  Buffer q, k, v, out, lse;

  DeviceAttn(int64_t n_q, int64_t n_kv, int heads, int kv_heads, int head_dim, uint32_t seed) {
    host = make_inputs(n_q, n_kv, heads, kv_heads, head_dim, seed);
    round_to_bf16(host.q);
    round_to_bf16(host.k);
    round_to_bf16(host.v);
    host_lse.assign(size_t(n_q * heads), 0.0f);
    q = upload_bf16(host.q);
    k = upload_bf16(host.k);
    v = upload_bf16(host.v);
    out = Buffer(Device::cuda, host.out.size() * 2);
    lse = Buffer(Device::cuda, host_lse.size() * 4);
    poison(*this);
  }
  // NaN into the device out and lse.
  static void poison(DeviceAttn& d) {
    const std::vector<uint16_t> nan16(d.host.out.size(), uint16_t(0x7fc0));
    cuda_copy_to_device(d.out.data(), nan16.data(), nan16.size() * 2);
    const std::vector<float> nan(d.host_lse.size(), NAN);
    cuda_copy_to_device(d.lse.data(), nan.data(), nan.size() * 4);
  }
  AttentionCall host_call() {
    AttentionCall c = host.call();
    c.lse = TensorView::of(host_lse.data(), {host.shape.n_q, host.shape.n_heads});
    return c;
  }
  AttentionCall device_call() const {
    const AttentionShape& s = host.shape;
    AttentionCall c;
    c.shape = s;
    c.q = TensorView(q.data(), DType::bf16, {s.n_q, s.n_heads, s.head_dim}, Device::cuda);
    c.k = TensorView(k.data(), DType::bf16, {s.n_kv, s.n_kv_heads, s.head_dim}, Device::cuda);
    c.v = TensorView(v.data(), DType::bf16, {s.n_kv, s.n_kv_heads, s.head_dim}, Device::cuda);
    c.out = TensorView(out.data(), DType::bf16, {s.n_q, s.n_heads, s.head_dim}, Device::cuda);
    c.lse = TensorView(lse.data(), DType::f32, {s.n_q, s.n_heads}, Device::cuda);
    return c;
  }
  std::vector<float> device_out() const { return download_bf16(out, host.out.size()); }
  std::vector<float> device_lse() const {
    std::vector<float> l(host_lse.size());
    cuda_copy_to_host(l.data(), lse.data(), l.size() * 4);
    return l;
  }
};

struct Diff {
  double max_abs = 0.0;
  int64_t not_finite = 0;  // elements the kernel left poisoned (or wrote as NaN/inf)
};

// max |got - want| over all elements; an expected -inf (lse of a query with no key) must be
// matched exactly.
inline Diff compare(const std::vector<float>& got, const std::vector<float>& want) {
  Diff d;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isinf(want[i]) && got[i] == want[i]) continue;
    if (!std::isfinite(got[i])) {
      ++d.not_finite;
      continue;
    }
    d.max_abs = std::max(d.max_abs, std::abs(double(got[i]) - double(want[i])));
  }
  return d;
}

}  // namespace spf::test
