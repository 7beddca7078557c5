// The GPU forward (model/cuda/cuda_decoder.h) against the CPU decoder, which is itself checked
// against HF transformers (tests/model/hf_parity_test.cpp). Each tiny HF fixture's architecture
// (its config.json: biases, q/k norms, output gate, Gated DeltaNet layers, tied head) is widened to
// head_dim 64 and Gated DeltaNet heads of 32 — the flash kernel is built for head_dim 64/128/256,
// the fixtures use 16/32 — and both forwards run the same random weights (RandomCheckpoint); then
// SmolLM2 on real text. bf16 weights and activations on the GPU against f32 on the CPU: the
// criterion is max |gpu - cpu| / max |cpu| over all logits and top-1 agreement, stated per case.
// A per-layer trace of the residual stream localises a failure. GPU cases skip without a device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "attention/cpu/cpu_executor.h"
#include "attention/cuda/cuda_executor.h"
#include "attention/executor.h"
#include "core/half.h"
#include "formats/gguf.h"
#include "gpu_sized.h"
#include "indexer/checkpoint.h"
#include "indexer/cuda/cuda_indexer_backend.h"
#include "indexer/indexer_model.h"
#include "indexer/producer.h"
#include "model/config.h"
#include "model/cuda/cuda_decoder.h"
#include "model/generate.h"
#include "model/model.h"
#include "model/random_checkpoint.h"
#include "model/trace.h"
#include "model_text.h"
#include "support/budget.h"
#include "support/method_spec.h"
#include "support/producer.h"
#include "support/support_attention.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace spf {
namespace {

#define SKIP_WITHOUT_GPU() \
  if (!cuda_device_present()) GTEST_SKIP() << "no CUDA device"

using test::gpu_sized;

std::vector<int32_t> ids_for(int64_t n, int vocab) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  uint64_t s = 12345;
  for (auto& id : ids) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    id = int32_t((s >> 33) % uint64_t(vocab));
  }
  return ids;
}

struct Agreement {
  double rel = 0;   // max |a - b| / max |b|
  double top1 = 0;  // fraction of rows with the same argmax
};

Agreement agree(const std::vector<float>& gpu, const std::vector<float>& cpu, int64_t V) {
  Agreement a;
  double d = 0, m = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    d = std::max(d, double(std::fabs(gpu[i] - cpu[i])));
    m = std::max(m, double(std::fabs(cpu[i])));
  }
  a.rel = d / std::max(m, 1e-30);
  const int64_t rows = int64_t(cpu.size()) / V;
  int64_t same = 0;
  for (int64_t r = 0; r < rows; ++r) {
    auto arg = [&](const std::vector<float>& v) {
      return std::max_element(v.begin() + r * V, v.begin() + (r + 1) * V) - (v.begin() + r * V);
    };
    same += arg(gpu) == arg(cpu);
  }
  a.top1 = double(same) / double(rows);
  return a;
}

AttentionBackend& gpu_dense() {
  static DenseBackend backend(cuda_executor());
  return backend;
}

std::vector<float> run_all(const Model& m, AttentionBackend& backend,
                           const std::vector<int32_t>& ids, int64_t chunk = 0,
                           TraceSink* trace = nullptr) {
  auto st = m.new_state(int64_t(ids.size()));
  std::vector<float> logits(ids.size() * size_t(m.config().vocab_size));
  ForwardOptions o;
  o.mode = LogitsMode::all;
  o.prefill_chunk = chunk;
  o.trace = trace;
  m.forward(ids, *st, backend, logits, o);
  return logits;
}

std::vector<int32_t> text_ids(const Model& cpu) {
  return test::model_text_ids(cpu, 400);
}

// bf16 GPU vs f32 CPU bounds (max |gpu - cpu| / max |cpu|, top-1 agreement). The Qwen3.5 hybrids
// get wider ones: their Gated DeltaNet layers' gated RMS norm amplifies the bf16 rounding of the
// projections (on random weights the residual differs by ~1% after the first GDN layer, ~4% after
// six); the GPU's fp32 recurrent form gives the same mixer error as its chunked form (the
// gdn_cuda_test mix_* lines), so the chunked kernel is not what limits it.
struct Bounds {
  double residual, logits, top1, chunked;
};
Bounds bounds_for(const ModelConfig& cfg) {
  if (cfg.n_attention_layers() < cfg.n_layers) return {6e-2, 8e-2, 0.9, 6e-2};
  return {3e-2, 3e-2, 0.95, 1e-2};
}

class CudaModelParity : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaModelParity, LogitsMatchCpuLayerByLayer) {
  SKIP_WITHOUT_GPU();
  const ModelConfig cfg = gpu_sized(GetParam());
  const RandomCheckpoint src(cfg, 7);
  auto cpu = make_model(cfg, src);
  auto gpu = make_cuda_model(cfg, src);
  const std::vector<int32_t> ids = ids_for(300, cfg.vocab_size);
  std::set<int> layers;
  for (int l = 0; l < cfg.n_layers; ++l) layers.insert(l);
  TraceRecorder cpu_trace(layers), gpu_trace(layers);
  const std::vector<float> a = run_all(*cpu, dense_attention_backend(), ids, 0, &cpu_trace);
  const std::vector<float> b = run_all(*gpu, gpu_dense(), ids, 0, &gpu_trace);
  // The residual stream after each layer: where the two forwards part, if they do.
  for (int l = 0; l < cfg.n_layers; ++l) {
    const auto& r0 = cpu_trace.get(l, trace::kResidual).data;
    const auto& r1 = gpu_trace.get(l, trace::kResidual).data;
    const Agreement e = agree(r1, r0, int64_t(r0.size()));
    std::printf("cuda parity %s layer %d residual rel %.3g\n", GetParam().c_str(), l, e.rel);
    EXPECT_LE(e.rel, bounds_for(cfg).residual) << "layer " << l << " residual";
  }
  const Agreement e = agree(b, a, cfg.vocab_size);
  std::printf("cuda parity %s logits rel %.3g top1 %.3f\n", GetParam().c_str(), e.rel, e.top1);
  EXPECT_LE(e.rel, bounds_for(cfg).logits);
  EXPECT_GE(e.top1, bounds_for(cfg).top1);
}

// Prefill then token-by-token decode (the recurrent Gated DeltaNet form, one-query attention)
// against the CPU doing the same.
TEST_P(CudaModelParity, PrefillThenDecodeMatchesCpu) {
  SKIP_WITHOUT_GPU();
  const ModelConfig cfg = gpu_sized(GetParam());
  const RandomCheckpoint src(cfg, 8);
  auto cpu = make_model(cfg, src);
  auto gpu = make_cuda_model(cfg, src);
  const std::vector<int32_t> ids = ids_for(120, cfg.vocab_size);
  const int64_t V = cfg.vocab_size, prefill = 100;
  auto decode = [&](const Model& m, AttentionBackend& be) {
    auto st = m.new_state(int64_t(ids.size()));
    std::vector<float> last(static_cast<size_t>(V)), all;
    m.forward(std::span(ids).first(size_t(prefill)), *st, be, LogitsMode::last, last);
    all = last;
    for (int64_t t = prefill; t < int64_t(ids.size()); ++t) {
      m.forward(std::span(ids).subspan(size_t(t), 1), *st, be, LogitsMode::last, last);
      all.insert(all.end(), last.begin(), last.end());
    }
    return all;
  };
  const Agreement e = agree(decode(*gpu, gpu_dense()), decode(*cpu, dense_attention_backend()), V);
  std::printf("cuda decode %s logits rel %.3g top1 %.3f\n", GetParam().c_str(), e.rel, e.top1);
  EXPECT_LE(e.rel, bounds_for(cfg).logits);
  EXPECT_GE(e.top1, bounds_for(cfg).top1);
}

// Chunked prefill attends each chunk to the cached prefix: dense results equal one shot up to the
// GEMMs' shape-dependent summation order.
TEST_P(CudaModelParity, ChunkedPrefillEqualsOneShot) {
  SKIP_WITHOUT_GPU();
  const ModelConfig cfg = gpu_sized(GetParam());
  const RandomCheckpoint src(cfg, 9);
  auto gpu = make_cuda_model(cfg, src);
  const std::vector<int32_t> ids = ids_for(333, cfg.vocab_size);
  const std::vector<float> one = run_all(*gpu, gpu_dense(), ids);
  for (int64_t chunk : {64, 100}) {
    const Agreement e = agree(run_all(*gpu, gpu_dense(), ids, chunk), one, cfg.vocab_size);
    std::printf("cuda chunked %s chunk %lld rel %.3g top1 %.3f\n", GetParam().c_str(),
                (long long)chunk, e.rel, e.top1);
    EXPECT_LE(e.rel, bounds_for(cfg).chunked);
    EXPECT_GE(e.top1, 0.98);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CudaModelParity,
                         ::testing::Values("llama", "qwen2", "qwen3", "qwen3_5", "qwen3_5_text"));

TEST(CudaModel, SmolLM2MatchesCpuOnText) {
  SKIP_WITHOUT_GPU();
  SPF_REQUIRE_DEFAULT_MODEL(path);
  LoadOptions cpu_opts, gpu_opts;
  gpu_opts.device = Device::cuda;
  install_cuda_models();
  auto cpu = load_model(path, cpu_opts);
  auto gpu = load_model(path, gpu_opts);
  const std::vector<int32_t> ids = text_ids(*cpu);
  const Agreement e =
      agree(run_all(*gpu, gpu_dense(), ids), run_all(*cpu, dense_attention_backend(), ids),
            cpu->config().vocab_size);
  std::printf("cuda smollm2 400 tokens logits rel %.3g top1 %.3f\n", e.rel, e.top1);
  EXPECT_LE(e.rel, 5e-2);
  EXPECT_GE(e.top1, 0.9);
}

// The indexer comparisons run a random-init indexer, which at a bare "10%" keeps neither the
// attention sink nor the local keys SmolLM2 relies on: the sparse model's logits then agree with
// dense on 12% of rows only, and its output is chaotic in the supports: on the CPU alone, rounding
// the indexer's weights to bf16 (about 1% of the keys of a layer change) gives top-1 0.375 and rel
// 1.3 against f32 weights, the same as the GPU against the CPU (0.33, 1.15), and the free-running
// per-layer overlap of the two supports decays from 0.99 (layer 0) to 0.24 (layer 29). With 4 sink
// and 16 window keys inside the 10% the same perturbation gives top-1 0.998, rel 0.04 and every
// layer's overlap >= 0.995, so a difference of the GPU path shows instead of drowning.
constexpr const char* kIndexerBudget = "10%,sink=4,window=16";

std::shared_ptr<IndexerFile> random_indexer_file(const ModelConfig& cfg) {
  auto file = std::make_shared<IndexerFile>();
  file->weights = random_indexer(indexer_config_for(cfg, 64, 32, 1, false), 5);
  return file;
}

// Every method on the GPU: a host producer (the oracle) over the CUDA executor, and the indexer on
// the device, each against the same method on the CPU model, on SmolLM2 and text (on random
// weights attention is flat and a top-k is a near-tie everywhere, so bf16 picks other keys).
TEST(CudaModel, SparseMethodsMatchTheirCpuRuns) {
  SKIP_WITHOUT_GPU();
  SPF_REQUIRE_DEFAULT_MODEL(path);
  install_cuda_models();
  LoadOptions gpu_opts;
  gpu_opts.device = Device::cuda;
  auto cpu = load_model(path);
  auto gpu = load_model(path, gpu_opts);
  const ModelConfig& cfg = cpu->config();
  const std::vector<int32_t> ids = text_ids(*cpu);
  {
    const Budget budget = parse_budget("10%");
    SupportAttention on_cpu(make_producer(parse_method_spec("oracle:token"), budget),
                            cpu_executor());
    SupportAttention on_gpu(make_producer(parse_method_spec("oracle:token"), budget),
                            cuda_executor());
    const Agreement e =
        agree(run_all(*gpu, on_gpu, ids), run_all(*cpu, on_cpu, ids), cfg.vocab_size);
    std::printf("cuda oracle:token 10%% logits rel %.3g top1 %.3f\n", e.rel, e.top1);
    // Top-1 agreement is the criterion: where bf16 statistics pick another key at a near-tie the
    // rows' logits move far (max rel 0.49 measured on the H200 with top-1 0.943), so the max
    // difference is printed, not bounded.
    EXPECT_GE(e.top1, 0.9);
  }
  {
    const Budget budget = parse_budget(kIndexerBudget);
    auto file = random_indexer_file(cfg);
    ProducerOptions po;
    po.budget = budget;
    SupportAttention on_cpu(std::make_unique<IndexerProducer>(file, "random-init", po),
                            cpu_executor());
    CudaIndexerOptions io;
    io.budget = budget;
    CudaIndexerBackend on_gpu(file->weights, io);
    const Agreement e =
        agree(run_all(*gpu, on_gpu, ids), run_all(*cpu, on_cpu, ids), cfg.vocab_size);
    std::printf("cuda indexer %s logits rel %.3g top1 %.3f\n", kIndexerBudget, e.rel, e.top1);
    // As for the oracle: top-1 is the criterion (measured 0.993, max rel 0.119); the support
    // itself is checked layer by layer in indexer_support_test.cpp.
    EXPECT_GE(e.top1, 0.9);
  }
}

// Runs without a GPU: the indexer comparison above is well posed, i.e. the CPU model with the
// indexer's weights rounded to bf16 (what the device holds) agrees with the f32 weights at its
// budget. A budget without sink and window fails this (top-1 0.375): the CPU-against-GPU test
// then measures chaos, not the GPU path (tests/model_cuda/indexer_support_test.cpp localises a
// real difference layer by layer).
TEST(CudaModel, IndexerComparisonBudgetIsStableUnderBf16Weights) {
  SPF_REQUIRE_DEFAULT_MODEL(path);
  auto cpu = load_model(path);
  const ModelConfig& cfg = cpu->config();
  const std::vector<int32_t> ids = text_ids(*cpu);
  auto f32 = random_indexer_file(cfg);
  auto b16 = std::make_shared<IndexerFile>(*f32);
  for (float& x : b16->weights.params) x = bf16_to_f32(f32_to_bf16(x));
  ProducerOptions po;
  po.budget = parse_budget(kIndexerBudget);
  SupportAttention a(std::make_unique<IndexerProducer>(f32, "f32", po), cpu_executor());
  SupportAttention b(std::make_unique<IndexerProducer>(b16, "bf16", po), cpu_executor());
  const Agreement e = agree(run_all(*cpu, b, ids), run_all(*cpu, a, ids), cfg.vocab_size);
  std::printf("cpu indexer %s, bf16 against f32 weights: logits rel %.3g top1 %.3f\n",
              kIndexerBudget, e.rel, e.top1);
  EXPECT_LE(e.rel, 0.1);
  EXPECT_GE(e.top1, 0.95);
}

// generate() end to end on the GPU: the README's greedy answer of the default model.
TEST(CudaModel, SmolLM2GeneratesTheReadmeAnswer) {
  SKIP_WITHOUT_GPU();
  SPF_REQUIRE_DEFAULT_MODEL(path);
  install_cuda_models();
  LoadOptions lo;
  lo.device = Device::cuda;
  auto gpu = load_model(path, lo);
  const Tokenizer tok = Tokenizer::load_for_model(path);
  std::vector<ChatMessage> msgs;
  const std::string sys = default_system_prompt(tok.chat_template());
  if (!sys.empty()) msgs.push_back({"system", sys});
  msgs.push_back({"user", "What is the capital of France?"});
  const std::vector<int32_t> ids = tok.encode(apply_chatml(msgs, "", true), false, true);
  GenerateParams gp;
  gp.max_new_tokens = 16;
  gp.stop_ids = tok.special().eos_ids;
  const GenerateResult r = generate(*gpu, ids, gp, dense_attention_backend(Device::cuda));
  const std::string text = tok.decode(r.tokens, true);
  std::printf("cuda generate: %s\n", text.c_str());
  EXPECT_NE(text.find("Paris"), std::string::npos) << text;
}

TEST(CudaModel, NoDeviceOrNoSupportIsAOneLineError) {
  // Runs everywhere: without a GPU the load fails with a clear error, never a crash.
  if (cuda_device_present()) GTEST_SKIP() << "a CUDA device is present";
  const ModelConfig cfg = gpu_sized("llama");
  const RandomCheckpoint src(cfg, 1);
  try {
    make_cuda_model(cfg, src);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no CUDA device"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace spf
