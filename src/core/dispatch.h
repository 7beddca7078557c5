// The one place where a runtime dtype or head_dim becomes a template parameter. Kernels are
// templates over <element type> and <head dim>; callers go through these functions, so the set of
// instantiated variants is listed once (here) and an unsupported value fails with one clear line.
//
//   dispatch_float(t, [&](auto tag) { using T = typename decltype(tag)::type; ... });
//   dispatch_head_dim(d, [&](auto hd) { constexpr int D = decltype(hd)::value; ... },
//                     [&] { ... any-D fallback ... });
#pragma once

#include <cstdint>
#include <type_traits>

#include "core/dtype.h"
#include "core/error.h"

namespace spf {

// 16-bit storage types with a distinct C++ type each (conversions in core/half.h).
struct Bf16 {
  uint16_t bits;
};
struct F16 {
  uint16_t bits;
};

template <class T>
struct TypeTag {
  using type = T;
};

// Floating-point storage types of activations and weights: f32, bf16, f16.
template <class Fn>
decltype(auto) dispatch_float(DType t, Fn&& fn) {
  switch (t) {
    case DType::f32:
      return fn(TypeTag<float>{});
    case DType::bf16:
      return fn(TypeTag<Bf16>{});
    case DType::f16:
      return fn(TypeTag<F16>{});
    default:
      fail("dtype ", dtype_name(t), " is not a floating-point activation type (f32, bf16, f16)");
  }
}

// The head dims specialised kernels are built for.
inline constexpr int kSpecialisedHeadDims[] = {64, 128, 256};

// Calls fn(std::integral_constant<int, D>) for a specialised head dim, else fallback() (a generic
// kernel); without a fallback an unsupported head dim throws.
template <class Fn, class Fallback>
decltype(auto) dispatch_head_dim(int head_dim, Fn&& fn, Fallback&& fallback) {
  switch (head_dim) {
    case 64:
      return fn(std::integral_constant<int, 64>{});
    case 128:
      return fn(std::integral_constant<int, 128>{});
    case 256:
      return fn(std::integral_constant<int, 256>{});
    default:
      return fallback();
  }
}
template <class Fn>
decltype(auto) dispatch_head_dim(int head_dim, Fn&& fn) {
  return dispatch_head_dim(head_dim, fn, [&]() -> decltype(fn(std::integral_constant<int, 64>{})) {
    fail("head_dim ", head_dim, " has no specialised kernel (built for 64, 128, 256)");
  });
}

}  // namespace spf
