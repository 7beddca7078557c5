// The indexer trainer on the GPU (indexer/cuda/cuda_distill_backend.h) against the CPU trainer's
// objective (indexer/distill.h), which is itself checked against finite differences
// (tests/indexer/distill_test.cpp).
//
// Without a GPU (CI): a ranking-aware loss and a wrong parameter count are one-line errors before
// any device is touched. With a GPU: on one attention call of random bf16 inputs the device
// targets, per-layer KL and gradient equal the CPU's (head_averaged_targets + distill_scorer on
// the same bf16-rounded values) for plain and lightning heads, shared and per-KV-group scorers,
// with and without RoPE, lengths 1 to 130 and target row blocks that do not divide them; the
// trainer on a GPU model makes the held-out KL fall, and a run stopped after a checkpoint and
// resumed ends with the same bits as an uninterrupted one.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "attention/cpu/cpu_executor.h"
#include "core/half.h"
#include "cuda/cuda_inputs.h"
#include "gpu_sized.h"
#include "indexer/checkpoint.h"
#include "indexer/cuda/cuda_distill_backend.h"
#include "indexer/distill.h"
#include "indexer/short_train.h"
#include "indexer/trainer.h"
#include "model/cuda/cuda_decoder.h"
#include "model/random_checkpoint.h"
#include "test_util.h"

namespace spf {
namespace {

IndexerConfig config_of(int d_model, int rope_dims, int heads, int groups) {
  IndexerConfig c;
  c.d_model = d_model;
  c.n_layers = 2;
  c.d_idx = 64;
  c.rope_dims = rope_dims;
  c.n_heads = heads;
  c.n_groups = groups;
  return c;
}

using test::one_line_error;

// max |a - b| / max |b|
double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0, m = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    d = std::max(d, double(std::fabs(a[i] - b[i])));
    m = std::max(m, double(std::fabs(b[i])));
  }
  return d / std::max(m, 1e-30);
}

TEST(CudaDistill, UnsupportedLossAndBadWeightsAreOneLineErrorsBeforeTheDevice) {
  const IndexerWeights w = random_indexer(config_of(32, 32, 1, 1), 1);
  CudaDistillWorkspace ws;  // holds no device memory until a backend uses it
  DistillLoss topk = parse_distill_loss("kl+topk:1");
  EXPECT_TRUE(one_line_error([&] { CudaDistillBackend b(w, nullptr, topk, ws); }, "only kl"));
  IndexerWeights cut = w;
  cut.params.pop_back();
  EXPECT_TRUE(one_line_error([&] { CudaDistillBackend b(cut, nullptr, {}, ws); }, "parameters"));
  CudaDistillOptions o;
  o.target_rows = -1;
  EXPECT_TRUE(one_line_error([&] { CudaDistillBackend b(w, nullptr, {}, ws, o); }, "target_rows"));
}

struct Case {
  int64_t n;
  int rope_dims, heads, groups;
  int64_t target_rows;
};

TEST(CudaDistill, TargetsLossAndGradientMatchTheCpuObjective) {
  SPF_REQUIRE_CUDA_DEVICE();
  const Case cases[] = {{1, 32, 1, 1, 0},    {37, 32, 1, 1, 16}, {130, 32, 1, 1, 0},
                        {130, 0, 1, 1, 7},   {96, 64, 3, 1, 0},  {77, 32, 1, 2, 32},
                        {130, 32, 4, 2, 50}, {64, 32, 2, 1, 64}};
  const int d_model = 48, layer = 1;
  for (const Case& c : cases) {
    const IndexerConfig ic = config_of(d_model, c.rope_dims, c.heads, c.groups);
    const IndexerWeights w = random_indexer(ic, 3);
    test::DeviceAttn in(c.n, c.n, 4, 2, 64, uint32_t(11 + c.n));
    std::vector<float> hidden(size_t(c.n * d_model));
    std::mt19937 rng(uint32_t(c.n));
    for (float& x : hidden) x = std::normal_distribution<float>(0.0f, 1.0f)(rng);
    test::round_to_bf16(hidden);
    const Buffer hidden_dev = test::upload_bf16(hidden);

    // CPU: the trainer's objective on the same bf16-rounded values.
    AttentionCall host = in.host_call();
    host.attention_layer = layer;
    host.hidden = TensorView::of(hidden.data(), {c.n, d_model});
    std::vector<float> targets;
    head_averaged_targets(cpu_executor(), host, c.groups, targets);
    std::vector<float> grad_cpu(w.params.size(), 0.0f);
    DistillScratch scratch;
    const std::vector<float> inv = indexer_inv_freq(ic);
    const double scale = 1.0 / (double(c.n) * ic.n_layers * c.groups);
    double sum = 0;
    for (int g = 0; g < c.groups; ++g)
      sum += distill_scorer(w, inv, layer, g, hidden.data(), c.n,
                            targets.data() + size_t(g) * size_t(c.n * c.n), scale, grad_cpu.data(),
                            scratch);
    const double kl_cpu = sum / (double(c.n) * c.groups);

    // GPU.
    AttentionCall dev = in.device_call();
    dev.attention_layer = layer;
    dev.hidden = TensorView(hidden_dev.data(), DType::bf16, {c.n, d_model}, Device::cuda);
    std::vector<float> grad_gpu(w.params.size(), 0.0f);
    CudaDistillWorkspace ws;
    CudaDistillOptions o;
    o.target_rows = c.target_rows;
    CudaDistillBackend backend(w, grad_gpu.data(), {}, ws, o);
    backend.attend(dev);
    backend.finish();
    const std::vector<float> targets_gpu = backend.last_targets();
    const double kl_gpu = backend.layer_kl()[size_t(layer)];

    // The dense output was written too (the backbone goes on).
    const std::vector<float> out = in.device_out();
    EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](float v) { return std::isfinite(v); }));

    double t_diff = 0;
    for (size_t i = 0; i < targets.size(); ++i)
      t_diff = std::max(t_diff, double(std::fabs(targets_gpu[i] - targets[i])));
    const double g_rel = rel_diff(grad_gpu, grad_cpu);
    std::printf(
        "distill n=%lld rope=%d heads=%d groups=%d rows=%lld: target max diff %.3g, KL %.6f vs "
        "%.6f, grad rel %.3g\n",
        (long long)c.n, c.rope_dims, c.heads, c.groups, (long long)c.target_rows, t_diff, kl_gpu,
        kl_cpu, g_rel);
    EXPECT_LE(t_diff, 2e-5);  // P <= 1; the CPU executor's exp is its own
    EXPECT_NEAR(kl_gpu, kl_cpu, 1e-4 * std::max(1.0, kl_cpu));
    EXPECT_LE(g_rel, 2e-3);
    // The other layer's gradient is untouched.
    const int64_t other = param_offset(ic, 0, 0, IndexerMatrix::wq);
    for (int64_t i = 0; i < ic.scorer_size() * c.groups; ++i)
      ASSERT_EQ(grad_gpu[size_t(other + i)], 0.0f);
  }
}

// ---- the trainer on a GPU model -------------------------------------------------------------

using test::phrase_stream;

TrainConfig gpu_train(int64_t steps) {
  return test::short_train(64, 32, 160, steps);
}

TEST(CudaDistill, TrainerOnTheGpuLowersHeldOutKlAndResumesBitForBit) {
  SPF_REQUIRE_CUDA_DEVICE();
  install_cuda_distill();
  const ModelConfig cfg = test::gpu_sized("llama");
  const RandomCheckpoint src(cfg, 7);
  auto model = make_cuda_model(cfg, src);
  const ModelIdentity id{"gpu-sized llama", "0"};
  const std::vector<int32_t> train = phrase_stream(6000, cfg.vocab_size, 1);
  const std::vector<int32_t> held = phrase_stream(192, cfg.vocab_size, 2);

  // Held-out KL falls over 30 steps.
  std::vector<double> first, last;
  TrainHooks hooks;
  hooks.device = Device::cuda;
  hooks.eval_every = 30;
  hooks.heldout = held;
  hooks.on_eval = [&](int64_t step, int64_t, const std::vector<double>& kl) {
    (step == 0 ? first : last) = kl;
  };
  const TrainResult r = train_indexer(*model, id, train, gpu_train(30), "", hooks);
  ASSERT_TRUE(r.finished);
  ASSERT_EQ(first.size(), size_t(cfg.n_attention_layers()));
  ASSERT_EQ(last.size(), first.size());
  double before = 0, after = 0;
  for (size_t l = 0; l < first.size(); ++l) {
    before += first[l];
    after += last[l];
  }
  std::printf("gpu trainer: held-out KL %.4f -> %.4f (mean over %zu layers)\n",
              before / double(first.size()), after / double(first.size()), first.size());
  EXPECT_LT(after, 0.8 * before);
  EXPECT_EQ(r.file.meta.extra.at("device"), "cuda");

  // Stopped after 3 of 7 steps and resumed, against 7 straight.
  const test::TempDir dir;
  const std::string ckpt = dir.file("ckpt.safetensors");
  TrainHooks plain;
  plain.device = Device::cuda;
  plain.checkpoint_every = 2;
  const TrainResult whole = train_indexer(*model, id, train, gpu_train(7), "", plain);
  plain.stop_after = 3;
  const TrainResult part = train_indexer(*model, id, train, gpu_train(7), ckpt, plain);
  ASSERT_FALSE(part.finished);
  plain.stop_after = 0;
  const TrainResult rest = train_indexer(*model, id, train, gpu_train(7), ckpt, plain);
  ASSERT_TRUE(rest.resumed);
  ASSERT_TRUE(rest.finished);
  EXPECT_EQ(rest.steps_run, 4);
  EXPECT_EQ(rest.file.weights.params, whole.file.weights.params);
  EXPECT_EQ(rest.file.adam_m, whole.file.adam_m);
  EXPECT_EQ(rest.file.adam_v, whole.file.adam_v);
}

}  // namespace
}  // namespace spf
