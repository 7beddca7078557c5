// SideCache: extra per-token data of one attention layer kept beside its KV cache in the model
// state — an indexer's keys, for instance. Rows are positions; the model state sizes it to its
// capacity, the first writer fixes the row width and dtype, and every attention call (dense layers
// and decode steps included) lets the backend append the call's rows, so a reader never sees stale
// or missing positions after chunked prefill, decode or a second turn.
#pragma once

#include <cstdint>

#include "core/buffer.h"
#include "core/tensor.h"

namespace spf {

class SideCache {
 public:
  SideCache() = default;
  explicit SideCache(int64_t capacity, Device device = Device::cpu)
      : capacity_(capacity), device_(device) {}

  // Allocates [capacity][width] of dtype on first use; later calls must ask for the same layout.
  // Throws spf::Error on a mismatch.
  void ensure(int64_t width, DType dtype);
  bool ready() const { return width_ > 0; }
  int64_t capacity() const { return capacity_; }
  int64_t width() const { return width_; }
  DType dtype() const { return dtype_; }
  // Positions [0, rows()) hold data.
  int64_t rows() const { return rows_; }
  // [capacity][width]: the whole store.
  TensorView all() const;
  // Rows [0, n): n <= rows().
  TensorView prefix(int64_t n) const;
  // Rows [pos0, pos0 + n) for writing; pos0 must equal rows() (append-only, in order) or be a
  // rewrite of existing positions. Marks them written.
  TensorView write(int64_t pos0, int64_t n);

 private:
  int64_t capacity_ = 0;
  Device device_ = Device::cpu;
  int64_t width_ = 0;
  DType dtype_ = DType::f32;
  int64_t rows_ = 0;
  Buffer buffer_;
};

}  // namespace spf
