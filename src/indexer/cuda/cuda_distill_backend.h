// CudaDistillBackend: the indexer trainer's distillation (indexer/trainer.h DistillAttention) on
// the GPU, for a model whose forward runs there (model/cuda/cuda_decoder.h). Each attention call
// (bf16 device q/k/v/out and the layer's normalised input `hidden`, queries at 0 .. n - 1 over
// the same n keys) is run densely by the CUDA executor, then, per scorer group g:
//
//   targets  P_g [n][n] f32: for blocks of query rows, per head h of the group, the scores
//            q_h . k_h (cuBLASLt, bf16 in, f32 out) -> causal softmax at the call's scale, added
//            with weight 1 / heads-per-group (distill_kernels.h). One [rows][n] score block at a
//            time, never a matrix per head.
//   forward  x = hidden in f32; heads = x Wq^T (and mix = x Ww^T), k = x Wk^T (f32 GEMMs, no
//            TF32) -> mix + RoPE in f32 (indexer_finish.h); z = q k^T / sqrt(d_idx).
//   loss     causal log-softmax of z against P per row: the row's KL and
//            G = gscale (S - P) (distill_kernels.h), as distill.cpp's plain-KL objective.
//   backward dq = G k, dk = G^T q -> RoPE transpose -> mix backward -> dW = dY^T x, accumulated
//            into a device gradient the size of the flat parameter vector; finish() adds it into
//            the host buffer.
//
// Against the CPU DistillBackend: the same objective, gradients and scale; the inputs differ by
// the GPU forward's bf16 activations, and the sums by their order (f32 here, f64 row sums there).
// Only the plain KL loss is implemented here; the ranking-aware terms are refused.
//
// Determinism: no atomics; every reduction has a fixed order, so one GPU model gives the same
// bits for the same inputs — the trainer's exact resume holds on the device.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "attention/cuda/cuda_executor.h"
#include "indexer/distill.h"
#include "indexer/trainer.h"

namespace spf {

struct CudaDistillOptions {
  int64_t target_rows = 0;                     // query rows per target block (0: by scratch)
  int64_t scratch_bytes = int64_t(256) << 20;  // bound on one block's [rows][n] f32 scores
};

// Device buffers, uploaded weights and the GEMM engine a trainer's backends reuse from step to
// step (one per trainer; not thread-safe).
class CudaDistillWorkspace {
 public:
  CudaDistillWorkspace();
  ~CudaDistillWorkspace();
  CudaDistillWorkspace(const CudaDistillWorkspace&) = delete;
  CudaDistillWorkspace& operator=(const CudaDistillWorkspace&) = delete;
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

class CudaDistillBackend final : public DistillAttention {
 public:
  // Throws spf::Error before touching the device for a loss other than plain KL, a parameter
  // vector of the wrong size or bad options; then uploads the weights and zeroes the device
  // gradient (grad may be null: loss only).
  CudaDistillBackend(const IndexerWeights& weights, float* grad, const DistillLoss& loss,
                     CudaDistillWorkspace& workspace, CudaDistillOptions options = {},
                     CudaExecutor& executor = cuda_executor());
  ~CudaDistillBackend() override;

  void attend(const AttentionCall& call) override;
  const std::vector<double>& layer_kl() const override { return layer_kl_; }
  const std::vector<double>& layer_loss() const override { return layer_kl_; }
  void finish() override;

  // The last call's targets [n_groups][n][n] (tests).
  std::vector<float> last_targets() const;

 private:
  const IndexerWeights& w_;
  float* grad_;
  CudaDistillWorkspace& ws_;
  CudaDistillOptions options_;
  CudaExecutor& executor_;
  std::vector<double> layer_kl_;
  int64_t last_n_ = 0;
  bool finished_ = false;
};

// Registers CudaDistillBackend as the Device::cuda distillation backend (trainer.h
// make_distill_backend), all its backends sharing one workspace; idempotent.
void install_cuda_distill();

}  // namespace spf
