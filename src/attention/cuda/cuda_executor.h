// CudaExecutor: the AttentionExecutor of an NVIDIA GPU. Calls carry bf16 q/k/v/out in CUDA device
// memory (rows packed, dim 0 strided freely), an optional f32 lse [n_q][n_heads] packed on the
// device, and the call's stream. dense() and sparse() run the flash kernel (flash_kernel.cuh):
// fp32 accumulation and softmax statistics, head_dim 64/128/256, any length and GQA ratio (up to 64
// query heads per KV head), queries at an offset over a longer cache.
//
// sparse() takes a support validated on the host (its arrays are host memory, as every producer
// builds them): the executor uploads the rows (in their own layout, no conversion for top-k and
// CSR) and runs the kernel over them: block columns whose k_block is a multiple of the kernel's
// key chunk walk blocks; token columns (k_block 1) are gathered; other k_blocks are expanded to
// tokens on the host first. sparse_device() runs a support that already lives on the device (a GPU
// producer's) without a host scan; invalid entries there are masked, never read out of bounds.
//
// The statistics (row_stats, visit_probabilities, block_mass, antidiagonal_scores) copy q and k to
// the host and run the CPU executor: correct, not fast (no GPU statistics kernels yet).
#pragma once

#include <cstdint>
#include <string>

#include "attention/executor.h"
#include "core/buffer.h"

namespace spf {

// True when the CUDA runtime sees at least one device (false without a driver or GPU); also
// registers the CUDA allocator with core/buffer.h.
bool cuda_device_present();

// Copies between host and device memory (synchronous), for tests and tools.
void cuda_copy_to_device(void* dst, const void* src, size_t bytes);
void cuda_copy_to_host(void* dst, const void* src, size_t bytes);
void cuda_synchronize();

// A support whose arrays live in device memory: row i (= g * n_rows + r) owns
// cols[row_ptr[i] .. row_ptr[i + 1]) (CSR) or, with row_ptr null, cols[i * k .. i * k + counts[i])
// (fixed width, the top-k layout).
struct DeviceSupportView : SupportDims {
  const int32_t* cols = nullptr;
  const int64_t* row_ptr = nullptr;
  const int32_t* counts = nullptr;
  int k = 0;
};

// The flash kernels: mma.sync (flash_kernel.cuh, every GPU from sm_80) and wgmma (Hopper, built
// for sm_90a: sm90/flash_wgmma.cu). automatic takes wgmma where this build and GPU have it (and,
// for a block walk, where k_block is a multiple of its key chunk), else mma.
enum class CudaAttentionKernel { automatic, mma, wgmma };
const char* kernel_name(CudaAttentionKernel k);
// Parses "auto", "mma" or "wgmma" (spf::Error for anything else).
CudaAttentionKernel parse_cuda_attention_kernel(const std::string& s);
// Whether this build and the current GPU run the wgmma kernel.
bool cuda_wgmma_available();

struct CudaExecutorOptions {
  // m16 tiles per warp of the mma.sync kernel (1: 64 packed rows per CTA, 2: 128); 0 picks the
  // measured default per head_dim. head_dim 256 has only 1.
  int m_tiles = 0;
  CudaAttentionKernel kernel = CudaAttentionKernel::automatic;
  // Keys per chunk of the wgmma kernel (64 or 128 where built for the head_dim; 0: its default).
  int wgmma_keys = 0;
  // The wgmma kernel's schedule: 0 plain (S, softmax, P V per chunk), 1 software-pipelined (S of
  // a chunk and P V of the previous one in flight during the softmax), -1 the default: plain,
  // which was the faster of the two wherever both were measured (docs/results/attention-h200.md).
  int wgmma_pipelined = -1;
};

class CudaExecutor final : public AttentionExecutor {
 public:
  explicit CudaExecutor(CudaExecutorOptions options = {});
  const char* name() const override { return "cuda"; }
  Device device() const override { return Device::cuda; }
  void dense(const AttentionCall& call) override;
  void sparse(const AttentionCall& call, const ValidatedSupport& support) override;
  // A device-resident support (see DeviceSupportView); k_block 1 or a multiple of key_chunk().
  void sparse_device(const AttentionCall& call, const DeviceSupportView& support);
  // The key chunk (32, 64 or 128 keys) of the kernel a call of this head_dim takes under this
  // executor's options (a block support of another k_block may take the other kernel).
  int key_chunk(int head_dim) const;
  // The kernel a call takes (k_block 0: dense).
  CudaAttentionKernel kernel_for(int head_dim, int k_block = 0) const;
  const CudaExecutorOptions& options() const { return options_; }
  // For the process-wide executor (cuda_executor()), which every GPU caller shares: a benchmark
  // picks the kernel here once, before any call (spf::Error for wgmma on a GPU without it).
  void set_options(const CudaExecutorOptions& options);

  RowStats row_stats(const AttentionCall& call, const MassOptions& tiles) override;
  void visit_probabilities(const AttentionCall& call, const RowStats& stats, ProbVisitor& visitor,
                           const MassOptions& tiles) override;
  int worker_slots() const override;
  void block_mass(const AttentionCall& call, const BlockMassSpec& spec,
                  BlockMassConsumer& consumer) override;
  void antidiagonal_scores(const AttentionCall& call, const BlockMassSpec& spec, int stride,
                           BlockMassConsumer& consumer) override;

 private:
  int m_tiles(int head_dim) const;
  CudaExecutorOptions options_;
  Buffer support_scratch_;  // device copy of the last host support
};

// A process-wide CudaExecutor.
CudaExecutor& cuda_executor();

}  // namespace spf
