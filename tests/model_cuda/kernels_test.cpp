// The GPU forward's GEMM and kernels (model/cuda/gemm.h, kernels.h) against their CPU references
// (gemm_reference, model/ops.h) on random inputs rounded to bf16 first, so that only the device's
// own rounding differs. GPU cases skip without a device.
#include "model/cuda/kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "attention/cuda/cuda_executor.h"
#include "core/buffer.h"
#include "core/half.h"
#include "model/cuda/gemm.h"
#include "model/ops.h"

namespace spf {
namespace {

#define SKIP_WITHOUT_GPU() \
  if (!cuda_device_present()) GTEST_SKIP() << "no CUDA device"

std::vector<uint16_t> random_bf16(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<uint16_t> v(n);
  for (auto& x : v) x = f32_to_bf16(d(rng));
  return v;
}

std::vector<float> to_f32(const std::vector<uint16_t>& v) {
  std::vector<float> f(v.size());
  for (size_t i = 0; i < v.size(); ++i) f[i] = bf16_to_f32(v[i]);
  return f;
}

template <class T>
Buffer upload(const std::vector<T>& v) {
  Buffer b(Device::cuda, std::max<size_t>(1, v.size() * sizeof(T)));
  cuda_copy_to_device(b.data(), v.data(), v.size() * sizeof(T));
  return b;
}

template <class T>
std::vector<T> download(const Buffer& b, size_t n) {
  std::vector<T> v(n);
  cuda_copy_to_host(v.data(), b.data(), n * sizeof(T));
  return v;
}

// max |a - b| / max(max |b|, 1e-30)
double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0, m = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    d = std::max(d, double(std::fabs(a[i] - b[i])));
    m = std::max(m, double(std::fabs(b[i])));
  }
  return d / std::max(m, 1e-30);
}

struct GemmCase {
  int64_t m, n, k, ldy;
  DType y;
  float beta;
};

// Runs every case twice on engine (the second run reuses the shape's plan) against the reference.
void expect_gemm_cases_match(cuda::GemmEngine& engine) {
  const GemmCase cases[] = {{1, 64, 64, 0, DType::bf16, 0},     {17, 96, 128, 0, DType::f32, 0},
                            {64, 48, 40, 0, DType::f32, 1},     {333, 200, 72, 0, DType::bf16, 0},
                            {100, 64, 256, 160, DType::f32, 1}, {5, 8, 1000, 0, DType::f32, 0}};
  for (const GemmCase& c : cases) {
    const int64_t ldy = c.ldy > 0 ? c.ldy : c.n;
    const auto x = random_bf16(size_t(c.m * c.k), 1);
    const auto w = random_bf16(size_t(c.n * c.k), 2, 0.1f);
    std::vector<float> y0(size_t(c.m * ldy));
    std::mt19937 rng(3);
    for (auto& v : y0) v = std::uniform_real_distribution<float>(-1, 1)(rng);
    cuda::GemmArgs a{c.m, c.n, c.k, nullptr, 0, nullptr, nullptr, c.ldy, c.y, 1.0f, c.beta};
    std::vector<float> ref = y0;
    if (c.y == DType::bf16)
      for (auto& v : ref) v = bf16_to_f32(f32_to_bf16(v));
    const std::vector<float> start = ref;
    cuda::gemm_reference(a, x.data(), w.data(), ref.data());
    Buffer dx = upload(x), dw = upload(w);
    Buffer dy(Device::cuda, size_t(c.m * ldy) * 4);
    a.x = dx.data();
    a.w = dw.data();
    a.y = dy.data();
    for (int run = 0; run < 2; ++run) {
      // The same start each run: an accumulating output must not see the first run.
      if (c.y == DType::f32) {
        cuda_copy_to_device(dy.data(), start.data(), start.size() * 4);
      } else {
        std::vector<uint16_t> b(start.size());
        for (size_t i = 0; i < b.size(); ++i) b[i] = f32_to_bf16(start[i]);
        cuda_copy_to_device(dy.data(), b.data(), b.size() * 2);
      }
      engine.run(a);
      cuda_synchronize();
      std::vector<float> got;
      if (c.y == DType::f32) {
        got = download<float>(dy, start.size());
      } else {
        got = to_f32(download<uint16_t>(dy, start.size()));
      }
      const double e = rel_err(got, ref);
      std::printf("gemm m=%lld n=%lld k=%lld %s beta=%g run %d rel_err %.3g\n", (long long)c.m,
                  (long long)c.n, (long long)c.k, dtype_name(c.y), c.beta, run, e);
      EXPECT_LE(e, c.y == DType::bf16 ? 8e-3 : 1e-4);
      // Columns beyond n in a strided output are untouched.
      for (int64_t i = 0; i < c.m; ++i)
        for (int64_t j = c.n; j < ldy; ++j)
          ASSERT_EQ(got[size_t(i * ldy + j)], start[size_t(i * ldy + j)]);
    }
  }
}

TEST(CudaGemm, MatchesReference) {
  SKIP_WITHOUT_GPU();
  cuda::GemmEngine engine;
  expect_gemm_cases_match(engine);
  EXPECT_EQ(engine.tuning_counts().measured, 0);
}

// Measured tuning on every shape (min_flops 0): the timing runs write the output many times, and
// an accumulating output is restored before the real run, so each result is still y0 + x w^T.
TEST(CudaGemm, MeasuredTuningMatchesReference) {
  SKIP_WITHOUT_GPU();
  cuda::GemmTuning t;
  t.measure = true;
  t.min_flops = 0;
  cuda::GemmEngine engine(t);
  expect_gemm_cases_match(engine);
  const cuda::GemmEngine::TuningCounts n = engine.tuning_counts();
  std::printf("measured %lld shapes, %lld changed\n", (long long)n.measured, (long long)n.changed);
  EXPECT_GT(n.measured, 0);  // cuBLASLt offers several algorithms for most of these shapes
  EXPECT_LE(n.measured, 6);  // once per shape, not per run
}

// The general form on f32 operands, every transpose combination, strided operands and an
// accumulating output; bf16 operands with an f32 output (the indexer trainer's target scores).
TEST(CudaGemm, MatmulTransposesMatchReference) {
  SKIP_WITHOUT_GPU();
  cuda::GemmEngine engine;
  struct Case {
    int64_t m, n, k, pad;
    bool ta, tb;
    DType in;
    float beta;
  };
  const Case cases[] = {{37, 64, 130, 0, false, false, DType::f32, 0},
                        {64, 37, 130, 3, true, false, DType::f32, 1},
                        {130, 64, 37, 0, false, true, DType::f32, 0},
                        {64, 576, 100, 8, true, true, DType::f32, 1},
                        {1, 1, 1, 0, true, false, DType::f32, 0},
                        {33, 129, 64, 64, false, true, DType::bf16, 0}};
  for (const Case& c : cases) {
    const int64_t a_rows = c.ta ? c.k : c.m, a_cols = (c.ta ? c.m : c.k) + c.pad;
    const int64_t b_rows = c.tb ? c.n : c.k, b_cols = (c.tb ? c.k : c.n) + c.pad;
    const int64_t ldc = c.n + c.pad;
    std::vector<float> A = to_f32(random_bf16(size_t(a_rows * a_cols), 11));
    std::vector<float> B = to_f32(random_bf16(size_t(b_rows * b_cols), 12));
    std::vector<float> C = to_f32(random_bf16(size_t(c.m * ldc), 13));
    cuda::MatmulArgs a;
    a.m = c.m;
    a.n = c.n;
    a.k = c.k;
    a.lda = a_cols;
    a.ldb = b_cols;
    a.ldc = ldc;
    a.trans_a = c.ta;
    a.trans_b = c.tb;
    a.in_dtype = c.in;
    a.alpha = 0.5f;
    a.beta = c.beta;
    std::vector<float> ref = C;
    cuda::matmul_reference(a, A.data(), B.data(), ref.data());
    Buffer dA, dB;
    if (c.in == DType::f32) {
      dA = upload(A);
      dB = upload(B);
    } else {
      std::vector<uint16_t> ab(A.size()), bb(B.size());
      for (size_t i = 0; i < A.size(); ++i) ab[i] = f32_to_bf16(A[i]);
      for (size_t i = 0; i < B.size(); ++i) bb[i] = f32_to_bf16(B[i]);
      dA = upload(ab);
      dB = upload(bb);
    }
    Buffer dC = upload(C);
    a.a = dA.data();
    a.b = dB.data();
    a.c = dC.data();
    engine.matmul(a);
    cuda_synchronize();
    const std::vector<float> got = download<float>(dC, C.size());
    const double e = rel_err(got, ref);
    std::printf("matmul m=%lld n=%lld k=%lld ta=%d tb=%d %s beta=%g rel_err %.3g\n", (long long)c.m,
                (long long)c.n, (long long)c.k, int(c.ta), int(c.tb), dtype_name(c.in), c.beta, e);
    EXPECT_LE(e, 1e-5);
    for (int64_t i = 0; i < c.m; ++i)  // the padding columns of C are untouched
      for (int64_t j = c.n; j < ldc; ++j)
        ASSERT_EQ(got[size_t(i * ldc + j)], C[size_t(i * ldc + j)]);
  }
}

TEST(CudaGemm, BadShapesAreOneLineErrors) {
  SKIP_WITHOUT_GPU();
  cuda::GemmEngine engine;
  cuda::GemmArgs a;
  a.m = 0;
  a.n = 4;
  a.k = 4;
  EXPECT_THROW(engine.run(a), Error);
}

TEST(CudaKernels, RmsNormMatchesOps) {
  SKIP_WITHOUT_GPU();
  // dim 50 and the odd row stride take the scalar path; the others 4-float loads.
  for (int64_t dim : {50, 64, 576, 4096}) {
    for (int64_t pad : {0, 3}) {
      for (bool plus_one : {false, true}) {
        const int64_t n = 37, ldx = dim + pad;
        const auto xb = random_bf16(size_t(n * ldx), 5, 3.0f);
        const std::vector<float> x = to_f32(xb);
        std::vector<float> packed(size_t(n * dim));
        for (int64_t t = 0; t < n; ++t)
          for (int64_t c = 0; c < dim; ++c) packed[size_t(t * dim + c)] = x[size_t(t * ldx + c)];
        const std::vector<float> w = to_f32(random_bf16(size_t(dim), 6, 0.5f));
        std::vector<float> ref(packed.size());
        ops::rms_norm(packed.data(), n, dim, w.data(), 1e-6f, plus_one, ref.data());
        Buffer dx = upload(x), dw = upload(w), dy(Device::cuda, ref.size() * 2);
        cuda::rms_norm_to_bf16(static_cast<float*>(dx.data()), ldx, n, dim,
                               static_cast<float*>(dw.data()), 1e-6f, plus_one,
                               static_cast<uint16_t*>(dy.data()), nullptr);
        const double e = rel_err(to_f32(download<uint16_t>(dy, ref.size())), ref);
        EXPECT_LE(e, 4e-3) << "dim " << dim << " ldx " << ldx;
      }
    }
  }
}

struct RopeCase {
  int heads, head_dim, rot;
  int64_t pos0;
  bool norm, gated;
};

TEST(CudaKernels, HeadNormRopeMatchesOps) {
  SKIP_WITHOUT_GPU();
  const RopeCase cases[] = {{3, 64, 64, 0, false, false},
                            {4, 128, 128, 5000, true, false},
                            {2, 256, 64, 123, true, true},
                            {5, 256, 256, 131000, false, true},
                            {1, 32, 16, 7, true, false}};
  for (const RopeCase& c : cases) {
    const int64_t n = 19, D = c.head_dim;
    const int64_t head_ld = c.gated ? 2 * D : D, ld = c.heads * head_ld + 8;  // padded rows
    const auto src = random_bf16(size_t(n * ld), 7, 2.0f);
    const std::vector<float> srcf = to_f32(src);
    const std::vector<float> w = to_f32(random_bf16(size_t(D), 8, 0.3f));
    const std::vector<float> inv = ops::rope_inv_freq(c.rot, 1e6f, "default", 1, 1, 4, 8192);
    std::vector<float> ref(size_t(n * c.heads * D));
    for (int64_t t = 0; t < n; ++t)
      for (int h = 0; h < c.heads; ++h)
        for (int64_t d = 0; d < D; ++d)
          ref[size_t((t * c.heads + h) * D + d)] = srcf[size_t(t * ld + h * head_ld + d)];
    if (c.norm) ops::rms_norm(ref.data(), n * c.heads, D, w.data(), 1e-6f, true, ref.data());
    ops::rope_inplace(ref.data(), n, c.heads, int(D), c.rot, inv.data(), c.pos0);
    Buffer ds = upload(src), dw = upload(w), di = upload(inv), dd(Device::cuda, ref.size() * 2);
    cuda::HeadNormRope a;
    a.src = static_cast<uint16_t*>(ds.data());
    a.src_ld = ld;
    a.src_head_ld = head_ld;
    a.dst = static_cast<uint16_t*>(dd.data());
    a.dst_ld = c.heads * D;
    a.n = n;
    a.heads = c.heads;
    a.head_dim = int(D);
    a.norm = c.norm ? static_cast<float*>(dw.data()) : nullptr;
    a.plus_one = true;
    a.inv_freq = static_cast<float*>(di.data());
    a.rot = c.rot;
    a.pos0 = c.pos0;
    cuda::head_norm_rope(a, nullptr);
    const double e = rel_err(to_f32(download<uint16_t>(dd, ref.size())), ref);
    std::printf("head_norm_rope heads=%d D=%lld rot=%d pos0=%lld rel_err %.3g\n", c.heads,
                (long long)D, c.rot, (long long)c.pos0, e);
    EXPECT_LE(e, 6e-3);
  }
}

TEST(CudaKernels, SwigluGateEmbedMatchCpu) {
  SKIP_WITHOUT_GPU();
  const int64_t n = 23;
  for (int64_t I : {300, 1000, 13}) {  // 8-wide loads for 1000, element by element otherwise
    const auto gu = random_bf16(size_t(n * 2 * I), 9, 2.0f);
    const std::vector<float> guf = to_f32(gu);
    std::vector<float> ref(size_t(n * I));
    for (int64_t t = 0; t < n; ++t)
      for (int64_t i = 0; i < I; ++i) {
        const float g = guf[size_t(t * 2 * I + i)], u = guf[size_t(t * 2 * I + I + i)];
        ref[size_t(t * I + i)] = ops::silu(g) * u;
      }
    Buffer dg = upload(gu), dout(Device::cuda, ref.size() * 2);
    cuda::swiglu(static_cast<uint16_t*>(dg.data()), n, I, static_cast<uint16_t*>(dout.data()),
                 nullptr);
    EXPECT_LE(rel_err(to_f32(download<uint16_t>(dout, ref.size())), ref), 4e-3) << "I " << I;
  }

  // The output gate reads every other head-sized slice of the q projection.
  const int heads = 3;
  for (int D : {64, 20}) {  // 8-wide loads for 64, element by element for 20
    const auto att = random_bf16(size_t(n * heads * D), 10);
    const auto qg = random_bf16(size_t(n * heads * 2 * D), 11, 2.0f);
    std::vector<float> gref = to_f32(att);
    const std::vector<float> qgf = to_f32(qg);
    for (int64_t t = 0; t < n; ++t)
      for (int h = 0; h < heads; ++h)
        for (int d = 0; d < D; ++d)
          gref[size_t((t * heads + h) * D + d)] *=
              ops::sigmoid(qgf[size_t(t * heads * 2 * D + h * 2 * D + D + d)]);
    Buffer da = upload(att), dq = upload(qg);
    cuda::sigmoid_gate(static_cast<uint16_t*>(da.data()), static_cast<uint16_t*>(dq.data()) + D,
                       heads * 2 * D, 2 * D, n, heads, D, nullptr);
    EXPECT_LE(rel_err(to_f32(download<uint16_t>(da, gref.size())), gref), 4e-3) << "D " << D;
  }

  const int64_t V = 50, H = 40;
  const auto table = random_bf16(size_t(V * H), 12);
  const std::vector<int32_t> ids = {0, 49, 7, 7, 31};
  Buffer dt = upload(table), did = upload(ids), de(Device::cuda, ids.size() * H * 4);
  cuda::embed_rows(static_cast<uint16_t*>(dt.data()), H, static_cast<int32_t*>(did.data()),
                   int64_t(ids.size()), static_cast<float*>(de.data()), nullptr);
  const std::vector<float> e = download<float>(de, ids.size() * H);
  for (size_t t = 0; t < ids.size(); ++t)
    for (int64_t c = 0; c < H; ++c)
      ASSERT_EQ(e[t * H + size_t(c)], bf16_to_f32(table[size_t(ids[t] * H + c)]));
}

}  // namespace
}  // namespace spf
