// TensorView: a non-owning view of a strided tensor on some device — data pointer, dtype, device,
// up to 4 dimensions, strides in elements. It is what crosses module seams (the attention call,
// trace captures, weights handed to a matmul), so an interface states shapes, not layouts: a CPU
// executor asks for `contiguous_rows()` data, a CUDA executor for device pointers, and each checks
// what it needs with one clear error instead of assuming a layout.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <type_traits>

#include "core/dtype.h"
#include "core/error.h"

namespace spf {

struct TensorView {
  static constexpr int kMaxDims = 4;

  void* ptr = nullptr;
  DType dtype = DType::f32;
  Device device = Device::cpu;
  int ndim = 0;
  std::array<int64_t, kMaxDims> shape{};
  std::array<int64_t, kMaxDims> stride{};  // in elements

  TensorView() = default;
  // A contiguous (row-major) view of `shape` at ptr.
  TensorView(void* p, DType t, std::initializer_list<int64_t> dims, Device d = Device::cpu);
  template <class T>
  static TensorView of(T* p, std::initializer_list<int64_t> dims, Device d = Device::cpu) {
    return TensorView(const_cast<std::remove_const_t<T>*>(p),
                      DTypeOf<std::remove_const_t<T>>::value, dims, d);
  }

  bool empty() const { return ptr == nullptr; }
  int64_t numel() const;
  int64_t dim(int i) const { return shape[size_t(i)]; }
  // Row-major with no gaps.
  bool contiguous() const;
  // Every dimension but the first is packed (rows may be spaced by stride[0]).
  bool contiguous_rows() const;
  // "f32[8,9,64] cpu" for messages.
  std::string str() const;

  // Typed pointer; throws unless the dtype matches T.
  template <class T>
  T* data() const {
    SPF_CHECK(ptr == nullptr || dtype == DTypeOf<std::remove_const_t<T>>::value, "tensor ", str(),
              " read as ", dtype_name(DTypeOf<std::remove_const_t<T>>::value));
    return static_cast<T*>(ptr);
  }
  // Rows [r0, r0 + n) of the first dimension.
  TensorView rows(int64_t r0, int64_t n) const;
  // The same memory with a new contiguous shape (needs contiguous() and the same element count).
  TensorView reshaped(std::initializer_list<int64_t> dims) const;

  // Throws spf::Error "<what>: expected <dtype> <device> [dims] (contiguous rows), got <str()>".
  // A dim of -1 matches anything.
  void expect(const char* what, DType t, Device d, std::initializer_list<int64_t> dims) const;
};

}  // namespace spf
