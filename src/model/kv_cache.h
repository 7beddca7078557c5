// Per-layer key/value cache of one sequence, laid out [capacity][n_kv_heads][head_dim] so that the
// first n rows are exactly the k/v arrays the attention entry point expects.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "core/error.h"

namespace spf {

class KvCache {
 public:
  KvCache() = default;
  KvCache(int n_layers, int64_t capacity, int n_kv_heads, int head_dim)
      : row_(int64_t(n_kv_heads) * head_dim),
        capacity_(capacity),
        k_(size_t(n_layers)),
        v_(size_t(n_layers)) {
    for (auto& t : k_) t.resize(size_t(capacity * row_));
    for (auto& t : v_) t.resize(size_t(capacity * row_));
  }
  // Copies n rows of k and v (each [n][row]) to positions pos0 .. pos0 + n - 1 of layer l.
  void store(int l, int64_t pos0, int64_t n, const float* k, const float* v) {
    SPF_CHECK(pos0 + n <= capacity_, "KV cache overflow: ", pos0 + n, " positions > capacity ",
              capacity_);
    std::memcpy(k_[size_t(l)].data() + pos0 * row_, k, size_t(n * row_) * sizeof(float));
    std::memcpy(v_[size_t(l)].data() + pos0 * row_, v, size_t(n * row_) * sizeof(float));
  }
  const float* k(int l) const { return k_[size_t(l)].data(); }
  const float* v(int l) const { return v_[size_t(l)].data(); }
  int64_t capacity() const { return capacity_; }

 private:
  int64_t row_ = 0;
  int64_t capacity_ = 0;
  std::vector<std::vector<float>> k_, v_;
};

}  // namespace spf
