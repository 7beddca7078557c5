#include "attention/cpu/online_softmax.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/fast_exp.h"

namespace spf::detail {

void OnlineSoftmax::begin(int rows, int head_dim, const float* q, float scale) {
  rows_ = rows;
  d_ = head_dim;
  q_ = q;
  scale_ = scale;
  m_.assign(size_t(rows), -std::numeric_limits<float>::infinity());
  l_.assign(size_t(rows), 0.0f);
  acc_.assign(size_t(rows) * size_t(head_dim), 0.0f);
}

void OnlineSoftmax::reserve(int rows, int head_dim, int nk) {
  s_.reserve(size_t(rows) * size_t(nk));
  acc_.reserve(size_t(rows) * size_t(head_dim));
  m_.reserve(size_t(rows));
  l_.reserve(size_t(rows));
}

void OnlineSoftmax::softmax_rows(int nk, const int* valid, bool with_values) {
  float* s = s_.data();
  for (int r = 0; r < rows_; ++r) {
    float* sr = s + size_t(r) * size_t(nk);
    const int n = valid[r];
    if (n <= 0) {
      std::fill(sr, sr + nk, 0.0f);
      continue;
    }
    const float m_old = m_[size_t(r)];
    const float m_new = std::max(m_old, max_of(sr, n));
    const float sum = exp_shifted(sr, n, m_new);
    std::fill(sr + n, sr + nk, 0.0f);
    // m_old == -inf only before the row's first key, when l and acc are still 0.
    const float alpha =
        m_old == -std::numeric_limits<float>::infinity() ? 0.0f : fast_exp(m_old - m_new);
    l_[size_t(r)] = l_[size_t(r)] * alpha + sum;
    m_[size_t(r)] = m_new;
    if (with_values && alpha != 1.0f) {
      float* a = acc_.data() + size_t(r) * size_t(d_);
      for (int c = 0; c < d_; ++c) a[c] *= alpha;
    }
  }
}

void OnlineSoftmax::add(const float* k, int64_t ldk, const float* v, int64_t ldv, int nk,
                        const int* valid) {
  if (nk <= 0) return;
  if (s_.size() < size_t(rows_) * size_t(nk)) s_.resize(size_t(rows_) * size_t(nk));
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows_, nk, d_, scale_, q_, d_, k, int(ldk),
              0.0f, s_.data(), nk);
  softmax_rows(nk, valid, v != nullptr);
  if (v != nullptr) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows_, d_, nk, 1.0f, s_.data(), nk, v,
                int(ldv), 1.0f, acc_.data(), d_);
  }
}

void OnlineSoftmax::finish_row(int r, float* out) const {
  const float l = l_[size_t(r)];
  const float* a = acc_.data() + size_t(r) * size_t(d_);
  if (l > 0.0f) {
    const float inv = 1.0f / l;
    for (int c = 0; c < d_; ++c) out[c] = a[c] * inv;
  } else {
    std::fill(out, out + d_, 0.0f);
  }
}

float OnlineSoftmax::row_lse(int r) const {
  const float l = l_[size_t(r)];
  if (!(l > 0.0f)) return -std::numeric_limits<float>::infinity();
  return m_[size_t(r)] + std::log(l);
}

}  // namespace spf::detail
