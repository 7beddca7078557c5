#include "core/dtype.h"

namespace spf {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32:
      return "F32";
    case DType::f16:
      return "F16";
    case DType::bf16:
      return "BF16";
    case DType::f64:
      return "F64";
    case DType::i8:
      return "I8";
    case DType::i16:
      return "I16";
    case DType::i32:
      return "I32";
    case DType::i64:
      return "I64";
    case DType::u8:
      return "U8";
    case DType::bool_:
      return "BOOL";
    case DType::q4_0:
      return "Q4_0";
    case DType::q4_1:
      return "Q4_1";
    case DType::q5_0:
      return "Q5_0";
    case DType::q5_1:
      return "Q5_1";
    case DType::q8_0:
      return "Q8_0";
    case DType::q2_k:
      return "Q2_K";
    case DType::q3_k:
      return "Q3_K";
    case DType::q4_k:
      return "Q4_K";
    case DType::q5_k:
      return "Q5_K";
    case DType::q6_k:
      return "Q6_K";
    case DType::q8_k:
      return "Q8_K";
    case DType::other:
      return "other";
  }
  return "other";
}

int64_t dtype_size(DType t) {
  switch (t) {
    case DType::f64:
    case DType::i64:
      return 8;
    case DType::f32:
    case DType::i32:
      return 4;
    case DType::f16:
    case DType::bf16:
    case DType::i16:
      return 2;
    case DType::i8:
    case DType::u8:
    case DType::bool_:
      return 1;
    default:
      return 0;
  }
}

const char* device_name(Device d) {
  return d == Device::cpu ? "cpu" : "cuda";
}

}  // namespace spf
