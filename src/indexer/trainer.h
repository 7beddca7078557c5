// The indexer trainer: KL distillation with the backbone frozen. One step = one window of
// seq_len tokens through the model with dense attention; at every attention layer the backend
// (DistillBackend) computes the head-averaged dense targets in tiles and the scorers' loss and
// hand-derived gradients (distill.h), so all layers train in one pass over the data. Loss = mean
// over layers, groups and queries of KL(target || indexer) (plus, with TrainConfig::loss
// "kl+topk:..." or "kl+topce:...", lambda times a term on the target's top keys, distill.h). Adam
// with linear warm-up, cosine decay to final_lr_frac * lr and global-norm gradient clipping.
//
// Data: the trainer reads the window of each step through TrainWindows and knows nothing of where
// it comes from. TextWindows cuts windows out of a token stream; with TrainConfig::synthetic > 0
// a caller's source (the CLI's, eval/synthetic_windows.h) puts a synthetic long-context sample in
// the steps that synthetic_step() picks. Which steps those are, and which task each uses, are
// pure functions of (seed, step) defined here, so every source agrees on them.
//
// Exact resume: the window of step s is a pure function of (seed, s), the update is deterministic
// for a given thread count (on the GPU: for a given GPU model), and a checkpoint (every
// checkpoint_every steps, atomic) holds weights, both Adam moments, the step and the tokens seen,
// so a run killed after a checkpoint and resumed ends with the same bits as an uninterrupted run.
// The loss and the synthetic mix are part of the checkpoint (metadata "extra.loss" /
// "extra.synthetic", and the config JSON): a resume under another loss or another mix is refused.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "attention/executor.h"
#include "indexer/checkpoint.h"
#include "indexer/distill.h"
#include "model/model.h"

namespace spf {

struct TrainConfig {
  int d_idx = 64;
  int rope_dims = 32;
  int heads = 1;
  bool per_kv_group = false;
  int64_t seq_len = 1024;
  int64_t steps = 100;
  double lr = 1e-3;
  int64_t warmup = 10;
  double final_lr_frac = 0.1;
  double clip = 1.0;
  double beta1 = 0.9, beta2 = 0.999, adam_eps = 1e-8;
  uint64_t seed = 1;
  DistillLoss loss;  // default: plain KL
  std::string data;  // description of the training data (files, hash), recorded and checked
  // Fraction of the steps that train on a synthetic long-context sample instead of a text window
  // (0: text only), the task names they draw from, and a description of their haystack text.
  double synthetic = 0;
  std::vector<std::string> synthetic_tasks;
  std::string synthetic_data;

  void validate() const;
  // JSON of every field: saved in checkpoints; a resume must match it exactly. "loss" appears only
  // when it is not plain KL and the synthetic fields only when synthetic > 0, so checkpoints made
  // before those options existed still resume and a text-only run writes the same bytes as before.
  std::string json() const;
  // "0" for text only, else "FRAC:task,task,...": metadata "extra.synthetic" (absent for "0").
  std::string synthetic_spec() const;
};

// Learning rate of (0-based) step s.
double lr_at(const TrainConfig& c, int64_t step);
// First token of step s's window in a stream of n tokens.
int64_t window_start(const TrainConfig& c, int64_t step, int64_t n_tokens);
// Whether step s trains on a synthetic sample: a hash of (seed, s) below c.synthetic, so about that
// fraction of the steps, never one at 0 and every one at 1; independent of window_start.
bool synthetic_step(const TrainConfig& c, int64_t step);
// Index into c.synthetic_tasks of the task of step s (uniform over the list).
size_t synthetic_task(const TrainConfig& c, int64_t step);
// Another independent draw of step s in [0, n): what a synthetic source may pick its haystack by.
uint64_t step_draw(const TrainConfig& c, int64_t step, uint64_t n);

// The windows a run trains on. window(s, ids) sets ids to exactly seq_len token ids for step s;
// it must be a pure function of s (and of what the source was built from), so that a resumed run
// sees the windows an uninterrupted run saw.
class TrainWindows {
 public:
  virtual ~TrainWindows() = default;
  virtual void window(int64_t step, std::vector<int32_t>& ids) const = 0;
};

// Text only: the seq_len tokens of `ids` from window_start(c, s, ids.size()) (the span must
// outlive the source). Throws spf::Error when the stream is shorter than one window.
class TextWindows final : public TrainWindows {
 public:
  TextWindows(const TrainConfig& c, std::span<const int32_t> ids);
  void window(int64_t step, std::vector<int32_t>& ids) const override;

 private:
  TrainConfig c_;
  std::span<const int32_t> ids_;
};

// What the trainer runs each window's forward through: a backend that runs every call densely
// and, on the way, scores the indexer against the dense targets of that layer — loss per layer
// (mean per query, averaged over groups) and, when a gradient buffer is given, the gradient of the
// mean objective over layers added into it. One object per forward.
class DistillAttention : public AttentionBackend {
 public:
  // Mean KL per query of each attention layer in the last forward.
  virtual const std::vector<double>& layer_kl() const = 0;
  // Mean objective per query of each layer (= layer_kl() for plain KL).
  virtual const std::vector<double>& layer_loss() const = 0;
  // After the forward: the gradient is complete in the host buffer (a device backend copies its
  // own back here). The host backend's is complete already.
  virtual void finish() {}
};

// The host's: the CPU executor's tiled statistics and distill.cpp.
class DistillBackend : public DistillAttention {
 public:
  DistillBackend(const IndexerWeights& weights, AttentionExecutor& executor, float* grad,
                 const DistillLoss& loss = {});
  void attend(const AttentionCall& call) override;
  const std::vector<double>& layer_kl() const override { return layer_kl_; }
  const std::vector<double>& layer_loss() const override { return layer_loss_; }

 private:
  const IndexerWeights& w_;
  AttentionExecutor& executor_;
  float* grad_;
  DistillLoss loss_;
  std::vector<float> inv_freq_, targets_;
  std::vector<double> layer_kl_, layer_loss_;
  DistillScratch scratch_;
};

// The distillation backend of a device: Device::cpu is DistillBackend over the CPU executor;
// a device library registers its own (indexer/cuda/cuda_distill_backend.h). The weights and the
// host gradient buffer (total_size() floats, may be null) outlive the backend. Throws spf::Error
// when the device has none or the backend refuses the loss.
using DistillFactory = std::function<std::unique_ptr<DistillAttention>(
    const IndexerWeights& weights, float* grad, const DistillLoss& loss)>;
void register_distill_backend(Device device, DistillFactory factory);
std::unique_ptr<DistillAttention> make_distill_backend(Device device, const IndexerWeights& weights,
                                                       float* grad, const DistillLoss& loss = {});

// Mean KL per query of each attention layer over ids (one forward from position 0) on the
// device the model runs on.
std::vector<double> heldout_kl(const Model& model, const IndexerWeights& w,
                               std::span<const int32_t> ids, Device device = Device::cpu);

struct TrainHooks {
  // After every step: (step done, steps, train loss (the objective), tokens seen, seconds of this
  // run).
  std::function<void(int64_t, int64_t, double, int64_t, double)> on_step;
  // When eval_every > 0: after step s % eval_every == 0 (and before the first step of a fresh
  // run): held-out layer KLs.
  std::function<void(int64_t step, int64_t tokens, const std::vector<double>&)> on_eval;
  int64_t eval_every = 0;
  std::span<const int32_t> heldout;
  int64_t checkpoint_every = 50;
  int64_t stop_after = 0;  // > 0: stop (as a kill would) once this many steps are done
  // Where the model's forward runs (load_model's LoadOptions::device): picks the distillation
  // backend (make_distill_backend) for training and held-out evaluation.
  Device device = Device::cpu;
};

struct TrainResult {
  IndexerFile file;
  int64_t steps_run = 0;  // in this process
  bool resumed = false;
  bool finished = false;  // all steps done
  double seconds = 0;
};

// Trains from `ckpt_path` when it holds a checkpoint of this config and model (else from a random
// init of seed), writes the checkpoint every checkpoint_every steps and at the end, and returns
// the final weights (the caller saves them without optimizer state; meta.extra["loss"] names the
// loss, meta.extra["synthetic"] the mix when synthetic > 0). Throws spf::Error on a checkpoint of
// another config, loss, mix or model.
TrainResult train_indexer(const Model& model, const ModelIdentity& identity,
                          const TrainWindows& data, const TrainConfig& config,
                          const std::string& ckpt_path, const TrainHooks& hooks);
// Text windows of train_ids (TextWindows).
TrainResult train_indexer(const Model& model, const ModelIdentity& identity,
                          std::span<const int32_t> train_ids, const TrainConfig& config,
                          const std::string& ckpt_path, const TrainHooks& hooks);

}  // namespace spf
