#include "model/weight_tensor.h"

#include <array>
#include <cstring>

#include "core/error.h"
#include "formats/quant.h"

namespace spf {

namespace {

// The ggml row decoder of each DType (nullptr: none), from formats/quant.h's own table.
const GgmlTypeInfo* decoder_of(DType t) {
  static const auto table = [] {
    std::array<const GgmlTypeInfo*, size_t(DType::other) + 1> m{};
    for (uint32_t id = 0; id < 64; ++id) {
      const GgmlTypeInfo* info = ggml_type_info(id);
      if (info != nullptr && info->decodable && info->dtype != DType::other &&
          m[size_t(info->dtype)] == nullptr)
        m[size_t(info->dtype)] = info;
    }
    return m;
  }();
  return table[size_t(t)];
}

}  // namespace

bool WeightTensor::decodable(DType dtype) {
  return decoder_of(dtype) != nullptr;
}

size_t WeightTensor::row_bytes(DType dtype, int64_t cols) {
  const GgmlTypeInfo* t = decoder_of(dtype);
  SPF_CHECK(t != nullptr, "weight of type ", dtype_name(dtype),
            " cannot be decoded (supported: ", ggml_decodable_types(), ")");
  SPF_CHECK(cols > 0 && cols % t->block_size == 0, "weight rows of ", cols, " ", dtype_name(dtype),
            " elements are not a whole number of ", t->block_size, "-element blocks");
  return size_t(cols / t->block_size) * size_t(t->type_size);
}

WeightTensor::WeightTensor(DType dtype, int64_t rows, int64_t cols, Buffer bytes)
    : dtype_(dtype), rows_(rows), cols_(cols), row_bytes_(row_bytes(dtype, cols)) {
  SPF_CHECK(rows > 0, "weight with ", rows, " rows");
  SPF_CHECK(bytes.bytes() >= row_bytes_ * size_t(rows), "weight [", rows, ", ", cols, "] of ",
            dtype_name(dtype), " needs ", row_bytes_ * size_t(rows), " bytes, got ", bytes.bytes());
  const GgmlTypeInfo* t = decoder_of(dtype);
  ggml_id_ = t->id;
  block_ = t->block_size;
  block_bytes_ = size_t(t->type_size);
  data_ = std::move(bytes);
}

WeightTensor WeightTensor::from_f32(std::span<const float> values, int64_t rows, int64_t cols) {
  SPF_CHECK(int64_t(values.size()) == rows * cols, "weight [", rows, ", ", cols, "] from ",
            values.size(), " values");
  Buffer b(Device::cpu, values.size() * sizeof(float));
  std::memcpy(b.data(), values.data(), values.size() * sizeof(float));
  return WeightTensor(DType::f32, rows, cols, std::move(b));
}

const float* WeightTensor::f32() const {
  SPF_CHECK(dtype_ == DType::f32, "weight of type ", dtype_name(dtype_), " read as F32");
  return static_cast<const float*>(data_.data());
}

void WeightTensor::dequantize_rows(int64_t r0, int64_t n, float* out) const {
  SPF_CHECK(r0 >= 0 && n >= 0 && r0 + n <= rows_, "weight rows [", r0, ", ", r0 + n, ") of ",
            rows_);
  if (dtype_ == DType::f32) {
    std::memcpy(out, row(r0), size_t(n) * row_bytes_);
    return;
  }
  for (int64_t r = 0; r < n; ++r) dequantize_row(ggml_id_, row(r0 + r), out + r * cols_, cols_);
}

void WeightTensor::dequantize_span(int64_t r, int64_t c0, int64_t n, float* out) const {
  SPF_CHECK(r >= 0 && r < rows_ && c0 >= 0 && n >= 0 && c0 + n <= cols_ && c0 % block_ == 0 &&
                n % block_ == 0,
            "weight span [", c0, ", ", c0 + n, ") of row ", r, " (", rows_, " x ", cols_,
            ", blocks of ", block_, ")");
  dequantize_row(ggml_id_, row(r) + size_t(c0 / block_) * block_bytes_, out, n);
}

WeightTensor WeightTensor::to_f32() const {
  Buffer b(Device::cpu, size_t(rows_ * cols_) * sizeof(float));
  float* out = static_cast<float*>(b.data());
#pragma omp parallel for schedule(static) if (rows_ * cols_ >= (int64_t(1) << 20))
  for (int64_t r = 0; r < rows_; ++r) dequantize_rows(r, 1, out + r * cols_);
  return WeightTensor(DType::f32, rows_, cols_, std::move(b));
}

}  // namespace spf
