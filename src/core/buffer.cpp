#include "core/buffer.h"

#include <algorithm>
#include <array>
#include <cstdlib>

#include "core/error.h"

namespace spf {

namespace {

constexpr size_t kAlign = 64;

std::array<DeviceAllocator, 2>& allocators() {
  static std::array<DeviceAllocator, 2> table{};
  return table;
}

size_t round_up(size_t n) {
  return (n + kAlign - 1) / kAlign * kAlign;
}

}  // namespace

void register_device_allocator(Device d, DeviceAllocator a) {
  SPF_CHECK(d != Device::cpu, "the host allocator cannot be replaced");
  allocators()[size_t(d)] = a;
}

bool device_available(Device d) {
  return d == Device::cpu || allocators()[size_t(d)].allocate != nullptr;
}

Buffer::Buffer(Device d, size_t bytes) : bytes_(bytes), device_(d) {
  if (bytes == 0) return;
  if (d == Device::cpu) {
    ptr_ = std::aligned_alloc(kAlign, round_up(bytes));
    SPF_CHECK(ptr_ != nullptr, "out of host memory allocating ", bytes, " bytes");
    return;
  }
  const DeviceAllocator& a = allocators()[size_t(d)];
  SPF_CHECK(a.allocate != nullptr, "no ", device_name(d), " support in this build or process");
  ptr_ = a.allocate(bytes);
}

Buffer::~Buffer() {
  if (ptr_ == nullptr) return;
  if (device_ == Device::cpu) {
    std::free(ptr_);
  } else {
    allocators()[size_t(device_)].release(ptr_);
  }
}

TensorView Buffer::view(DType t, std::initializer_list<int64_t> dims) const {
  TensorView v(ptr_, t, dims, device_);
  SPF_CHECK(size_t(v.numel()) * size_t(dtype_size(t)) <= bytes_, "buffer of ", bytes_,
            " bytes cannot hold ", v.str());
  return v;
}

TensorView Arena::alloc(DType t, std::initializer_list<int64_t> dims) {
  TensorView v(nullptr, t, dims, device_);
  const int64_t es = dtype_size(t);
  SPF_CHECK(es > 0, "arena: cannot allocate block-quantized ", dtype_name(t));
  const size_t bytes = round_up(size_t(v.numel()) * size_t(es));
  if (blocks_.empty() || offset_ + bytes > blocks_.back().bytes()) {
    // Overflow: a fresh block for this and later requests; reset() merges.
    const size_t want = std::max(bytes, blocks_.empty() ? size_t(1) << 20 : blocks_.back().bytes());
    blocks_.emplace_back(device_, want);
    ++allocations_;
    offset_ = 0;
  }
  v.ptr = static_cast<char*>(blocks_.back().data()) + offset_;
  offset_ += bytes;
  used_ += bytes;
  high_water_ = std::max(high_water_, used_);
  return v;
}

void Arena::reset() {
  if (blocks_.size() > 1) {
    size_t total = 0;
    for (const Buffer& b : blocks_) total += b.bytes();
    blocks_.clear();
    blocks_.emplace_back(device_, std::max(total, high_water_));
    ++allocations_;
  }
  offset_ = 0;
  used_ = 0;
}

size_t Arena::capacity() const {
  size_t total = 0;
  for (const Buffer& b : blocks_) total += b.bytes();
  return total;
}

}  // namespace spf
