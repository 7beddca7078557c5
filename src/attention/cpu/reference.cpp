#include "attention/cpu/reference.h"

#include <algorithm>
#include <cmath>

#include "attention/cpu/host_call.h"
#include "core/error.h"

namespace spf {

namespace {

// Keys query i of head h may see: all causal keys, or those of its support row.
std::vector<int64_t> visible_keys(const AttentionShape& s, const SupportView* sv, int h,
                                  int64_t i) {
  const int64_t pos = s.q_pos0 + i;
  std::vector<int64_t> keys;
  if (sv == nullptr) {
    for (int64_t j = 0; j <= pos; ++j) keys.push_back(j);
    return keys;
  }
  const int grp = group_of_head(h, sv->n_groups, s.n_heads, s.n_kv_heads);
  for (const int32_t c : sv->row(grp, i / sv->q_block)) {
    for (int64_t j = int64_t(c) * sv->k_block; j < int64_t(c + 1) * sv->k_block; ++j) {
      if (j <= pos && j < s.n_kv) keys.push_back(j);
    }
  }
  return keys;
}

double dot(const float* a, const float* b, int n) {
  double acc = 0.0;
  for (int c = 0; c < n; ++c) acc += double(a[c]) * double(b[c]);
  return acc;
}

}  // namespace

void reference_attention(const AttentionCall& attention_call, const SupportView* support) {
  const detail::HostCall call = detail::host_call(attention_call);
  const AttentionShape& s = call.shape;
  if (support != nullptr) {
    SPF_CHECK(support->n_q == s.n_q && support->n_kv == s.n_kv && support->q_pos0 == s.q_pos0,
              "reference attention: support does not match the call's n_q / n_kv / q_pos0");
  }
  const int d = s.head_dim;
  const int64_t ld = int64_t(s.n_kv_heads) * d;
  std::vector<double> w;
  std::vector<double> o(static_cast<size_t>(d));
  for (int h = 0; h < s.n_heads; ++h) {
    const int64_t off = int64_t(s.kv_head_of(h)) * d;
    for (int64_t i = 0; i < s.n_q; ++i) {
      const float* qi = call.q + (i * s.n_heads + h) * d;
      const std::vector<int64_t> keys = visible_keys(s, support, h, i);
      w.assign(keys.size(), 0.0);
      double mx = -INFINITY;
      for (size_t t = 0; t < keys.size(); ++t) {
        w[t] = double(s.scale) * dot(qi, call.k + keys[t] * ld + off, d);
        mx = std::max(mx, w[t]);
      }
      double sum = 0.0;
      for (double& x : w) sum += (x = std::exp(x - mx));
      std::fill(o.begin(), o.end(), 0.0);
      for (size_t t = 0; t < keys.size(); ++t) {
        const float* vj = call.v + keys[t] * ld + off;
        for (int c = 0; c < d; ++c) o[size_t(c)] += w[t] / sum * double(vj[c]);
      }
      float* out = call.out + (i * s.n_heads + h) * d;
      for (int c = 0; c < d; ++c) out[c] = float(o[size_t(c)]);
      if (call.lse != nullptr)
        call.lse[i * s.n_heads + h] = keys.empty() ? -INFINITY : float(mx + std::log(sum));
    }
  }
}

std::vector<double> reference_probabilities(const AttentionShape& s, const float* q,
                                            const float* k) {
  s.validate();
  const int d = s.head_dim;
  const int64_t ld = int64_t(s.n_kv_heads) * d;
  std::vector<double> p(size_t(s.n_heads) * size_t(s.n_q) * size_t(s.n_kv), 0.0);
  for (int h = 0; h < s.n_heads; ++h) {
    const int64_t off = int64_t(s.kv_head_of(h)) * d;
    for (int64_t i = 0; i < s.n_q; ++i) {
      double* row = p.data() + (int64_t(h) * s.n_q + i) * s.n_kv;
      const float* qi = q + (i * s.n_heads + h) * d;
      const int64_t n = s.visible(i);
      double mx = -INFINITY;
      for (int64_t j = 0; j < n; ++j)
        mx = std::max(mx, row[j] = double(s.scale) * dot(qi, k + j * ld + off, d));
      double sum = 0.0;
      for (int64_t j = 0; j < n; ++j) sum += (row[j] = std::exp(row[j] - mx));
      for (int64_t j = 0; j < n; ++j) row[j] /= sum;
    }
  }
  return p;
}

}  // namespace spf
