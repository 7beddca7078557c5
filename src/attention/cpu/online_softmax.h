// OnlineSoftmax: streaming softmax(scale * Q K^T) V for one block of packed query rows, fed one key
// tile at a time (the inner loop of the dense and sparse executors and of the statistics pass).
//
// Contract: keys within a tile are in ascending position, so a causal limit is a prefix: row r sees
// the first valid[r] keys of the tile (0 <= valid[r] <= nk). Tiles may come in any order. QK^T and
// PV are OpenBLAS sgemm calls on the tile; the caller keeps BLAS single-threaded (blas_threads.h).
// A row that sees no key at all ends with output 0 and lse -inf.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace spf::detail {

class OnlineSoftmax {
 public:
  // Starts a block of `rows` query rows, q packed [rows][head_dim]. Buffers grow as needed and are
  // kept between blocks, so one object per thread serves a whole call.
  void begin(int rows, int head_dim, const float* q, float scale);
  // Grows the buffers for blocks of up to `rows` rows and key tiles of up to nk keys now, so that
  // such blocks allocate nothing later.
  void reserve(int rows, int head_dim, int nk);
  // One key tile: key j at k + j * ldk, value j at v + j * ldv. v == nullptr: statistics only (row
  // max and sum; no output accumulated).
  void add(const float* k, int64_t ldk, const float* v, int64_t ldv, int nk, const int* valid);
  // out[0, head_dim) = softmax-weighted values of row r (0 when the row saw no key).
  void finish_row(int r, float* out) const;
  // Running maximum of the scaled scores and log-sum-exp of row r.
  float row_max(int r) const { return m_[size_t(r)]; }
  float row_lse(int r) const;
  // Partial state of row r for merging key splits: sum of exp(score - row_max) and the unnormalized
  // output (head_dim floats).
  float row_sum(int r) const { return l_[size_t(r)]; }
  const float* row_acc(int r) const { return acc_.data() + size_t(r) * size_t(d_); }

 private:
  // Turns the scores s_[rows][nk] into probabilities under each row's new running max, rescaling
  // l_ and acc_ (when with_values) to it.
  void softmax_rows(int nk, const int* valid, bool with_values);

  int rows_ = 0;
  int d_ = 0;
  float scale_ = 1.0f;
  const float* q_ = nullptr;
  std::vector<float> s_;    // [rows][nk] scores, then probabilities
  std::vector<float> acc_;  // [rows][d] unnormalized output
  std::vector<float> m_;    // running max per row
  std::vector<float> l_;    // running sum of exp(score - m) per row
};

}  // namespace spf::detail
