#include "core/tensor.h"

#include <sstream>

namespace spf {

TensorView::TensorView(void* p, DType t, std::initializer_list<int64_t> dims, Device d)
    : ptr(p), dtype(t), device(d), ndim(int(dims.size())) {
  SPF_CHECK(ndim <= kMaxDims, "tensor view: ", ndim, " dimensions (at most ", kMaxDims, ")");
  int i = 0;
  for (int64_t x : dims) {
    SPF_CHECK(x >= 0, "tensor view: negative dimension ", x);
    shape[size_t(i++)] = x;
  }
  int64_t s = 1;
  for (int k = ndim - 1; k >= 0; --k) {
    stride[size_t(k)] = s;
    s *= shape[size_t(k)];
  }
}

int64_t TensorView::numel() const {
  if (ndim == 0) return ptr ? 1 : 0;
  int64_t n = 1;
  for (int i = 0; i < ndim; ++i) n *= shape[size_t(i)];
  return n;
}

bool TensorView::contiguous_rows() const {
  int64_t s = 1;
  for (int k = ndim - 1; k >= 1; --k) {
    if (shape[size_t(k)] != 1 && stride[size_t(k)] != s) return false;
    s *= shape[size_t(k)];
  }
  return true;
}

bool TensorView::contiguous() const {
  if (!contiguous_rows()) return false;
  if (ndim == 0 || shape[0] <= 1) return true;
  int64_t inner = 1;
  for (int k = 1; k < ndim; ++k) inner *= shape[size_t(k)];
  return stride[0] == inner;
}

std::string TensorView::str() const {
  std::ostringstream os;
  os << dtype_name(dtype) << "[";
  for (int i = 0; i < ndim; ++i) os << (i ? "," : "") << shape[size_t(i)];
  os << "] " << device_name(device) << (ptr == nullptr ? " (unset)" : "");
  return os.str();
}

TensorView TensorView::rows(int64_t r0, int64_t n) const {
  SPF_CHECK(ndim >= 1 && r0 >= 0 && n >= 0 && r0 + n <= shape[0], "tensor view: rows [", r0, ", ",
            r0 + n, ") of ", str());
  TensorView v = *this;
  const int64_t es = dtype_size(dtype);
  SPF_CHECK(es > 0, "tensor view: row slicing of block-quantized ", str());
  v.ptr = static_cast<char*>(ptr) + r0 * stride[0] * es;
  v.shape[0] = n;
  return v;
}

TensorView TensorView::reshaped(std::initializer_list<int64_t> dims) const {
  SPF_CHECK(contiguous(), "tensor view: reshape of non-contiguous ", str());
  TensorView v(ptr, dtype, dims, device);
  SPF_CHECK(v.numel() == numel(), "tensor view: reshape of ", str(), " to ", v.str());
  return v;
}

void TensorView::expect(const char* what, DType t, Device d,
                        std::initializer_list<int64_t> dims) const {
  bool ok =
      ptr != nullptr && dtype == t && device == d && ndim == int(dims.size()) && contiguous_rows();
  int i = 0;
  for (int64_t x : dims) {
    if (ok && x >= 0 && shape[size_t(i)] != x) ok = false;
    ++i;
  }
  if (ok) return;
  std::ostringstream want;
  want << dtype_name(t) << " " << device_name(d) << " [";
  i = 0;
  for (int64_t x : dims) {
    want << (i++ ? "," : "");
    if (x >= 0) {
      want << x;
    } else {
      want << "*";
    }
  }
  fail(what, ": expected ", want.str(), "] with contiguous rows, got ", str());
}

}  // namespace spf
