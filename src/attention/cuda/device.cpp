// The CUDA device allocator (registered with core/buffer.h) and small runtime helpers.
#include <cuda_runtime.h>

#include "attention/cuda/cuda_check.h"
#include "attention/cuda/cuda_executor.h"
#include "core/buffer.h"

namespace spf {

namespace {

void* cuda_allocate(size_t bytes) {
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes);
  SPF_CHECK(e == cudaSuccess, "cudaMalloc of ", bytes, " bytes failed: ", cudaGetErrorString(e));
  return p;
}

void cuda_release(void* p) {
  cudaFree(p);
}

void register_once() {
  static const bool done = [] {
    register_device_allocator(Device::cuda, DeviceAllocator{cuda_allocate, cuda_release});
    return true;
  }();
  (void)done;
}

}  // namespace

bool cuda_device_present() {
  static const bool present = [] {
    int n = 0;
    const bool ok = cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
    if (!ok) (void)cudaGetLastError();  // clear the sticky "no device" error
    return ok;
  }();
  if (present) register_once();
  return present;
}

void cuda_copy_to_device(void* dst, const void* src, size_t bytes) {
  SPF_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}

void cuda_copy_to_host(void* dst, const void* src, size_t bytes) {
  SPF_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}

void cuda_synchronize() {
  SPF_CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace spf
