// Dense vs sparse attention executors on the CPU: N = 2K and 8K, head_dim 64 and 128, 8 query heads
// over 2 KV heads, sparse at 5% density (random supports, token and 64-block granularity; the
// support is built outside the timed loop). Counters: density and causal-equivalent GFLOP/s of the
// dense work.
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <vector>

#include "attention/cpu/cpu_executor.h"
#include "attention/cpu/dense.h"
#include "attention/cpu/sparse.h"
#include "support/producer.h"

namespace {

struct Inputs {
  spf::AttentionShape shape;
  std::vector<float> q, k, v, out;
  spf::AttentionCall call() {
    spf::AttentionCall c;
    c.shape = shape;
    const spf::AttentionShape& s = shape;
    c.q = spf::TensorView::of(q.data(), {s.n_q, s.n_heads, s.head_dim});
    c.k = spf::TensorView::of(k.data(), {s.n_kv, s.n_kv_heads, s.head_dim});
    c.v = spf::TensorView::of(v.data(), {s.n_kv, s.n_kv_heads, s.head_dim});
    c.out = spf::TensorView::of(out.data(), {s.n_q, s.n_heads, s.head_dim});
    return c;
  }
};

Inputs make(int64_t n, int head_dim) {
  Inputs in;
  in.shape.n_q = n;
  in.shape.n_kv = n;
  in.shape.n_heads = 8;
  in.shape.n_kv_heads = 2;
  in.shape.head_dim = head_dim;
  in.shape.scale = 1.0f / std::sqrt(float(head_dim));
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  auto fill = [&](std::vector<float>& x, int64_t count) {
    x.resize(size_t(count));
    for (float& e : x) e = u(rng);
  };
  fill(in.q, n * in.shape.n_heads * head_dim);
  fill(in.k, n * in.shape.n_kv_heads * head_dim);
  fill(in.v, n * in.shape.n_kv_heads * head_dim);
  in.out.assign(in.q.size(), 0.0f);
  return in;
}

// Causal QK^T + PV flops of dense attention, the yardstick for both executors.
double dense_flops(const spf::AttentionShape& s) {
  return 4.0 * double(s.n_heads) * double(s.head_dim) * double(s.n_q) * double(s.n_q + 1) / 2.0;
}

void BM_Dense(benchmark::State& state) {
  Inputs in = make(state.range(0), int(state.range(1)));
  const spf::AttentionCall call = in.call();
  for (auto _ : state) {
    spf::dense_attention(call);
    benchmark::DoNotOptimize(in.out.data());
  }
  state.counters["density"] = 1.0;
  state.counters["dense_GFLOPs"] = benchmark::Counter(
      dense_flops(in.shape) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Sparse(benchmark::State& state, int block) {
  Inputs in = make(state.range(0), int(state.range(1)));
  const spf::AttentionCall call = in.call();
  spf::ProducerOptions o;
  o.budget = spf::Budget::fraction(0.05);
  o.block = block;
  const spf::Support support = spf::make_producer("random", o)->produce(call, spf::cpu_executor());
  for (auto _ : state) {
    spf::sparse_attention(call, support.view());
    benchmark::DoNotOptimize(in.out.data());
  }
  state.counters["density"] = support.density();
  state.counters["dense_GFLOPs"] = benchmark::Counter(
      dense_flops(in.shape) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_SparseToken(benchmark::State& state) {
  BM_Sparse(state, 1);
}
void BM_SparseBlock64(benchmark::State& state) {
  BM_Sparse(state, 64);
}

void BM_Produce(benchmark::State& state, const char* method, int block) {
  Inputs in = make(8192, 128);
  const spf::AttentionCall call = in.call();
  spf::ProducerOptions o;
  o.budget = spf::Budget::fraction(0.05);
  o.block = block;
  const auto producer = spf::make_producer(method, o);
  double density = 0.0;
  for (auto _ : state) density = producer->produce(call, spf::cpu_executor()).density();
  state.counters["density"] = density;
}

void shapes(benchmark::internal::Benchmark* b) {
  for (const int64_t n : {2048, 8192}) {
    for (const int64_t d : {64, 128}) b->Args({n, d});
  }
  b->ArgNames({"N", "head_dim"})->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

BENCHMARK(BM_Dense)->Apply(shapes);
BENCHMARK(BM_SparseToken)->Apply(shapes);
BENCHMARK(BM_SparseBlock64)->Apply(shapes);

BENCHMARK_CAPTURE(BM_Produce, oracle_token, "oracle", 1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Produce, oracle_block64, "oracle", 64)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Produce, vertical_slash_block64, "vertical_slash", 64)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Produce, antidiagonal_block64, "antidiagonal", 64)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Produce, streaming_block64, "streaming", 64)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK_MAIN();
