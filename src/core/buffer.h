// Buffer: owned, 64-byte-aligned memory on one device. Host memory is allocated here; other
// devices plug an allocator in (the CUDA executor registers one when it is linked in), so code that
// owns tensors holds a Buffer whatever the device and never calls a device API itself.
//
// Arena: bump allocation of activations out of Buffers, for one model state. alloc() hands out
// views until reset(); a reset after a call that overflowed the first block folds everything into
// one block of the high-water size, so after the first call of the largest size (the prefill) the
// same or smaller calls (decode steps) allocate nothing on the heap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"

namespace spf {

// Allocation functions of a device other than the host.
struct DeviceAllocator {
  void* (*allocate)(size_t bytes) = nullptr;  // throws spf::Error when out of memory
  void (*release)(void* p) = nullptr;
};
// Installs the allocator of a device (once, at static-initialisation time of its library).
void register_device_allocator(Device d, DeviceAllocator a);
bool device_available(Device d);

class Buffer {
 public:
  Buffer() = default;
  Buffer(Device d, size_t bytes);
  Buffer(Buffer&& o) noexcept { swap(o); }
  Buffer& operator=(Buffer&& o) noexcept {
    Buffer tmp(std::move(o));
    swap(tmp);
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer();

  void* data() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  // A contiguous view of the start of the buffer (throws if it does not fit).
  TensorView view(DType t, std::initializer_list<int64_t> dims) const;

 private:
  void swap(Buffer& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(bytes_, o.bytes_);
    std::swap(device_, o.device_);
  }
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
  Device device_ = Device::cpu;
};

class Arena {
 public:
  explicit Arena(Device d = Device::cpu) : device_(d) {}
  // A contiguous tensor valid until reset(); contents uninitialised. Plain dtypes only.
  TensorView alloc(DType t, std::initializer_list<int64_t> dims);
  template <class T>
  T* alloc_array(int64_t n) {
    return alloc(DTypeOf<T>::value, {n}).template data<T>();
  }
  // Invalidates every view handed out; keeps (and, after an overflow, merges) the memory.
  void reset();
  // Bytes in use now, the most ever in use between two resets, bytes owned, heap allocations made.
  size_t used() const { return used_; }
  size_t high_water() const { return high_water_; }
  size_t capacity() const;
  int64_t allocations() const { return allocations_; }

 private:
  Device device_;
  std::vector<Buffer> blocks_;  // blocks_[0] is the main block; later ones are overflow
  size_t offset_ = 0;           // into blocks_.back()
  size_t used_ = 0;
  size_t high_water_ = 0;
  int64_t allocations_ = 0;
};

}  // namespace spf
