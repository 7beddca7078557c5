#include "attention/side_cache.h"

#include <algorithm>

#include "core/error.h"

namespace spf {

void SideCache::ensure(int64_t width, DType dtype) {
  SPF_CHECK(width > 0 && dtype_size(dtype) > 0, "side cache: width ", width, " of ",
            dtype_name(dtype), " (need a positive width of a plain type)");
  if (ready()) {
    SPF_CHECK(width == width_ && dtype == dtype_, "side cache: holds rows of ", width_, " ",
              dtype_name(dtype_), ", asked for ", width, " ", dtype_name(dtype));
    return;
  }
  SPF_CHECK(capacity_ > 0, "side cache: no capacity (not created by a model state)");
  buffer_ = Buffer(device_, size_t(capacity_ * width * dtype_size(dtype)));
  width_ = width;
  dtype_ = dtype;
}

TensorView SideCache::all() const {
  SPF_CHECK(ready(), "side cache: read before anything was written");
  return buffer_.view(dtype_, {capacity_, width_});
}

TensorView SideCache::prefix(int64_t n) const {
  SPF_CHECK(n >= 0 && n <= rows_, "side cache: ", n, " rows asked, ", rows_, " written");
  return all().rows(0, n);
}

TensorView SideCache::write(int64_t pos0, int64_t n) {
  SPF_CHECK(pos0 >= 0 && n >= 0 && pos0 <= rows_ && pos0 + n <= capacity_,
            "side cache: write of rows [", pos0, ", ", pos0 + n, ") with ", rows_,
            " written and capacity ", capacity_);
  rows_ = std::max(rows_, pos0 + n);
  return all().rows(pos0, n);
}

}  // namespace spf
