// Element types and devices: the one vocabulary every tensor of the project is described by
// (checkpoint files, weights in memory, activations, attention calls). Block-quantized types
// (GGUF's Q4_x / Q8_0 / K-quants) are sized by formats/quant.h, which knows their blocks; plain
// types have an element size here.
#pragma once

#include <cstdint>

namespace spf {

enum class DType {
  f32,
  f16,
  bf16,
  f64,
  i8,
  i16,
  i32,
  i64,
  u8,
  bool_,  // plain (safetensors and GGUF)
  q4_0,
  q4_1,
  q5_0,
  q5_1,
  q8_0,
  q2_k,
  q3_k,
  q4_k,
  q5_k,
  q6_k,
  q8_k,
  other  // GGUF block types
};

// Upper-case spellings shared by safetensors ("F32", "BOOL") and ggml ("Q4_K"), so that one name
// is used for a type in every message.
const char* dtype_name(DType t);
// Bytes per element of a plain type; 0 for block-quantized types and `other`.
int64_t dtype_size(DType t);

enum class Device : uint8_t { cpu, cuda };
const char* device_name(Device d);

// The DType of a C++ element type, for typed accessors (TensorView::data<T>()).
template <class T>
struct DTypeOf;
template <>
struct DTypeOf<float> {
  static constexpr DType value = DType::f32;
};
template <>
struct DTypeOf<int32_t> {
  static constexpr DType value = DType::i32;
};
template <>
struct DTypeOf<int64_t> {
  static constexpr DType value = DType::i64;
};

}  // namespace spf
