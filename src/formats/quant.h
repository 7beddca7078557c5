// ggml tensor storage types: the id -> (name, block size, bytes per block) table, row
// dequantization for the types spf decodes (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K),
// and reference quantizers for Q8_0/Q4_0/Q4_1 (used to write test files).
//
// Contract: ggml_type_info() knows every id whose size can be stated (decodable or not); an id it
// returns nullptr for cannot be sized, so a reader must not trust any byte range computed for it.
// dequantize_row() needs n to be a multiple of the type's block size and src to hold exactly
// n / block_size * type_size bytes; it does no I/O and is safe to call from several threads.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "formats/tensor_source.h"

namespace spf {

struct GgmlTypeInfo {
  uint32_t id;
  const char* name;    // ggml's spelling, e.g. "Q4_K"
  int64_t block_size;  // elements per block (1 for plain types)
  int64_t type_size;   // bytes per block
  DType dtype;         // DType::other for types without a DType of their own
  bool decodable;      // dequantize_row() supports it
};

// nullptr for ids that are unknown or retired (their size cannot be stated).
const GgmlTypeInfo* ggml_type_info(uint32_t id);
// The type's name, or "type<id>" for an unknown id.
std::string ggml_type_name(uint32_t id);
// "F32, F16, ..." : the decodable types, for error messages.
const char* ggml_decodable_types();

// Dequantizes n elements (a whole number of blocks) of type `id` from src into dst.
// Throws spf::Error for a type that is not decodable.
void dequantize_row(uint32_t id, const uint8_t* src, float* dst, int64_t n);

// Reference quantizers (n a multiple of 32, finite inputs); dst must hold n / 32 blocks of the
// type.
void quantize_row_q8_0(const float* x, uint8_t* dst, int64_t n);
void quantize_row_q4_0(const float* x, uint8_t* dst, int64_t n);
void quantize_row_q4_1(const float* x, uint8_t* dst, int64_t n);

// ggml type ids used by spf code by name.
namespace ggml_type {
inline constexpr uint32_t F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8,
                          Q8_1 = 9, Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14,
                          Q8_K = 15, BF16 = 30;
}

}  // namespace spf
