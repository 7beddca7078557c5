// WeightTensor: one weight matrix in its stored type — DType (core/dtype.h: F32, F16, BF16, Q8_0,
// Q4_0/Q4_1, K-quants), [rows][cols] in PyTorch order ([out, in] for a linear layer) and the bytes,
// row-major, in a Buffer. Block-quantized rows are whole blocks (cols a multiple of the block
// size), so a row is addressable on its own: the matmul (model/linear.h) and the embedding lookup
// dequantize rows on demand. Vectors (norms, biases, GDN gates) are not WeightTensors: they are
// used elementwise and kept as fp32 (model/decoder_weights.h).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/buffer.h"
#include "core/dtype.h"

namespace spf {

class WeightTensor {
 public:
  WeightTensor() = default;
  // bytes must hold rows * row_bytes(dtype, cols) bytes. Throws for a type spf cannot decode or a
  // cols that is not a whole number of blocks.
  WeightTensor(DType dtype, int64_t rows, int64_t cols, Buffer bytes);
  static WeightTensor from_f32(std::span<const float> values, int64_t rows, int64_t cols);

  bool empty() const { return rows_ == 0; }
  DType dtype() const { return dtype_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  size_t row_bytes() const { return row_bytes_; }
  size_t bytes() const { return row_bytes_ * size_t(rows_); }
  const uint8_t* row(int64_t r) const {
    return static_cast<const uint8_t*>(data_.data()) + size_t(r) * row_bytes_;
  }
  // The values of an F32 weight; throws for any other type.
  const float* f32() const;

  // Elements per storage block (1 for plain types).
  int64_t block() const { return block_; }
  // out[(r - r0) * cols + c] = value of rows [r0, r0 + n), as fp32.
  void dequantize_rows(int64_t r0, int64_t n, float* out) const;
  // out[i] = value (r, c0 + i) for i < n; c0 and n whole blocks.
  void dequantize_span(int64_t r, int64_t c0, int64_t n, float* out) const;
  // The same weight stored as F32 (a copy; an F32 weight is copied as is).
  WeightTensor to_f32() const;

  // Bytes of one row of `cols` elements of a type; throws for types spf cannot decode and for a
  // cols that is not a whole number of blocks.
  static size_t row_bytes(DType dtype, int64_t cols);
  // Whether rows of this type can be dequantized (plain F32/F16/BF16 and the decodable ggml
  // block types).
  static bool decodable(DType dtype);

 private:
  DType dtype_ = DType::f32;
  int64_t rows_ = 0;
  int64_t cols_ = 0;
  size_t row_bytes_ = 0;
  int64_t block_ = 1;
  size_t block_bytes_ = 0;
  uint32_t ggml_id_ = 0;  // the row decoder (formats/quant.h) of dtype_
  Buffer data_;
};

}  // namespace spf
