// Gated DeltaNet kernels: the chunked and recurrent forms against each other and against a naive
// double-precision recurrence written from the gated delta rule of HF transformers'
// Qwen3_5GatedDeltaNet (S <- exp(g) S + k (beta (v - S^T k))^T, o = S^T q); state carried across
// calls.
#include "model/gdn.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "model/ops.h"
#include "test_util.h"

namespace spf {
namespace {

using gdn::DeltaMode;
using gdn::Dims;

constexpr int kK = 4;
constexpr float kEps = 1e-6f;

// Projected inputs of one random sequence plus the mixer's own weights.
struct Case {
  Dims d;
  int64_t T = 0;
  std::vector<float> m, z, a, b, conv_w, A_log, dt_bias, norm_w;

  Case(Dims dims, int64_t t, uint32_t seed) : d(dims), T(t) {
    m = test::random_floats(size_t(T * d.channels()), seed + 1);
    z = test::random_floats(size_t(T * d.value_dim()), seed + 2, -2.0f, 2.0f);
    a = test::random_floats(size_t(T * d.nv), seed + 3, -3.0f, 3.0f);
    b = test::random_floats(size_t(T * d.nv), seed + 4, -3.0f, 3.0f);
    conv_w = test::random_floats(size_t(d.channels() * kK), seed + 5, -0.8f, 0.8f);
    A_log = test::random_floats(size_t(d.nv), seed + 6, -2.0f, 1.0f);
    dt_bias = test::random_floats(size_t(d.nv), seed + 7, -1.0f, 1.0f);
    norm_w = test::random_floats(size_t(d.dv), seed + 8, 0.5f, 1.5f);
  }
  gdn::MixerWeights weights() const {
    return {conv_w.data(), A_log.data(), dt_bias.data(), norm_w.data()};
  }
};

// Running states of one sequence.
struct States {
  std::vector<float> conv, S;
  explicit States(const Dims& d)
      : conv(size_t((kK - 1) * d.channels()), 0.0f), S(size_t(d.state_size()), 0.0f) {}
};

// Runs tokens [t0, t0 + n) of c through gdn::mix and returns their outputs [n][nv*dv].
std::vector<float> run(const Case& c, States& s, int64_t t0, int64_t n, DeltaMode mode) {
  const Dims& d = c.d;
  std::vector<float> m(c.m.begin() + t0 * d.channels(), c.m.begin() + (t0 + n) * d.channels());
  std::vector<float> out(static_cast<size_t>(n * d.value_dim()));
  gdn::mix(d, kK, n, m.data(), c.z.data() + t0 * d.value_dim(), c.a.data() + t0 * d.nv,
           c.b.data() + t0 * d.nv, c.weights(), kEps, s.conv.data(), s.S.data(), out.data(), mode);
  return out;
}

// Naive double-precision recurrence from a zero state over the whole sequence.
std::vector<double> reference(const Case& c) {
  const Dims& d = c.d;
  const int64_t C = d.channels(), T = c.T;
  auto silu = [](double x) { return x / (1.0 + std::exp(-x)); };
  std::vector<double> conv(static_cast<size_t>(T * C));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t ch = 0; ch < C; ++ch) {
      double acc = 0;
      for (int j = 0; j < kK; ++j) {
        const int64_t tau = t - (kK - 1) + j;
        if (tau >= 0) acc += double(c.conv_w[size_t(ch * kK + j)]) * c.m[size_t(tau * C + ch)];
      }
      conv[size_t(t * C + ch)] = silu(acc);
    }
  std::vector<double> S(size_t(d.state_size()), 0.0), out(size_t(T * d.value_dim()));
  std::vector<double> q(static_cast<size_t>(d.dk)), k(size_t(d.dk)), delta(size_t(d.dv));
  for (int64_t t = 0; t < T; ++t) {
    for (int h = 0; h < d.nv; ++h) {
      const int kh = h / (d.nv / d.nk);
      double qs = 0, ks = 0;
      for (int i = 0; i < d.dk; ++i) {
        q[size_t(i)] = conv[size_t(t * C + kh * d.dk + i)];
        k[size_t(i)] = conv[size_t(t * C + d.key_dim() + kh * d.dk + i)];
        qs += q[size_t(i)] * q[size_t(i)];
        ks += k[size_t(i)] * k[size_t(i)];
      }
      for (int i = 0; i < d.dk; ++i) {
        q[size_t(i)] /= std::sqrt(qs + 1e-6) * std::sqrt(double(d.dk));
        k[size_t(i)] /= std::sqrt(ks + 1e-6);
      }
      const double beta = 1.0 / (1.0 + std::exp(-double(c.b[size_t(t * d.nv + h)])));
      const double x = double(c.a[size_t(t * d.nv + h)]) + c.dt_bias[size_t(h)];
      const double g =
          -std::exp(double(c.A_log[size_t(h)])) * (x > 20 ? x : std::log1p(std::exp(x)));
      double* Sh = S.data() + int64_t(h) * d.dk * d.dv;
      for (int64_t i = 0; i < int64_t(d.dk) * d.dv; ++i) Sh[i] *= std::exp(g);
      for (int cc = 0; cc < d.dv; ++cc) {
        double r = 0;
        for (int i = 0; i < d.dk; ++i) r += Sh[i * d.dv + cc] * k[size_t(i)];
        const double v = conv[size_t(t * C + 2 * d.key_dim() + h * d.dv + cc)];
        delta[size_t(cc)] = beta * (v - r);
      }
      for (int i = 0; i < d.dk; ++i)
        for (int cc = 0; cc < d.dv; ++cc) Sh[i * d.dv + cc] += k[size_t(i)] * delta[size_t(cc)];
      double* o = out.data() + t * d.value_dim() + h * d.dv;
      double ss = 0;
      for (int cc = 0; cc < d.dv; ++cc) {
        o[cc] = 0;
        for (int i = 0; i < d.dk; ++i) o[cc] += Sh[i * d.dv + cc] * q[size_t(i)];
        ss += o[cc] * o[cc];
      }
      const double inv = 1.0 / std::sqrt(ss / d.dv + double(kEps));
      for (int cc = 0; cc < d.dv; ++cc)
        o[cc] = c.norm_w[size_t(cc)] * o[cc] * inv *
                silu(c.z[size_t(t * d.value_dim() + h * d.dv + cc)]);
    }
  }
  return out;
}

template <class A, class B>
double rel_err(const A& got, const B& want) {
  EXPECT_EQ(got.size(), want.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    num = std::max(num, std::abs(double(got[i]) - double(want[i])));
    den = std::max(den, std::abs(double(want[i])));
  }
  return den > 0 ? num / den : num;
}

std::vector<float> concat(std::vector<float> x, const std::vector<float>& y) {
  x.insert(x.end(), y.begin(), y.end());
  return x;
}

const Dims kGrouped{2, 4, 16, 24};  // nk != nv, dk != dv
const Dims kSquare{3, 3, 32, 32};

class ChunkedThenDecode : public ::testing::TestWithParam<int64_t> {};

TEST_P(ChunkedThenDecode, EqualsRecurrentAndReference) {
  const int64_t n = GetParam();
  constexpr int64_t kDecode = 5;
  for (const Dims& d : {kGrouped, kSquare}) {
    const Case c(d, n + kDecode, uint32_t(n * 7 + d.nv));
    States chunked(d), recurrent(d);
    std::vector<float> got = run(c, chunked, 0, n, DeltaMode::chunked);
    for (int64_t t = n; t < n + kDecode; ++t)
      got = concat(got, run(c, chunked, t, 1, DeltaMode::recurrent));
    const std::vector<float> want = run(c, recurrent, 0, n + kDecode, DeltaMode::recurrent);
    EXPECT_LE(rel_err(got, want), 1e-5) << "n=" << n << " nv=" << d.nv;
    EXPECT_LE(rel_err(chunked.S, recurrent.S), 1e-5) << "n=" << n << " nv=" << d.nv;
    EXPECT_EQ(chunked.conv, recurrent.conv);
    EXPECT_LE(rel_err(got, reference(c)), 2e-5) << "n=" << n << " nv=" << d.nv;
  }
}

INSTANTIATE_TEST_SUITE_P(Lengths, ChunkedThenDecode, ::testing::Values(1, 63, 64, 65, 300));

TEST(Gdn, ChunkedSplitInTwoCallsEqualsOneCall) {
  // Splits inside a chunk, at a chunk boundary, and shorter than the conv history (K-1 = 3).
  for (const int64_t first : {2, 64, 100}) {
    const Case c(kGrouped, 230, uint32_t(first));
    States split(c.d), whole(c.d);
    std::vector<float> got = run(c, split, 0, first, DeltaMode::chunked);
    got = concat(got, run(c, split, first, c.T - first, DeltaMode::chunked));
    const std::vector<float> want = run(c, whole, 0, c.T, DeltaMode::chunked);
    EXPECT_LE(rel_err(got, want), 1e-5) << "first=" << first;
    EXPECT_LE(rel_err(split.S, whole.S), 1e-5) << "first=" << first;
    EXPECT_EQ(split.conv, whole.conv) << "first=" << first;
  }
}

TEST(Gdn, ManyTinyCallsCarryTheConvState) {
  const Case c(kSquare, 11, 5);
  States pieces(c.d), whole(c.d);
  std::vector<float> got;
  for (int64_t t0 = 0; t0 < c.T; t0 += 2)
    got = concat(got, run(c, pieces, t0, std::min<int64_t>(2, c.T - t0), DeltaMode::chunked));
  EXPECT_LE(rel_err(got, run(c, whole, 0, c.T, DeltaMode::recurrent)), 1e-5);
  EXPECT_LE(rel_err(got, reference(c)), 2e-5);
}

TEST(Gdn, SmallChunksAndStrongDecaysMatchRecurrent) {
  const Dims d = kGrouped;
  const int64_t T = 37;
  auto qkv = test::random_floats(size_t(T * d.channels()), 1);
  gdn::l2_normalize(qkv.data(), T, d.channels(), 2 * d.nk, d.dk, 1.0f);
  const auto beta = test::random_floats(size_t(T * d.nv), 2, 0.0f, 1.0f);
  auto g = test::random_floats(size_t(T * d.nv), 3, -2.0f, 0.0f);
  // Decays far beyond fp32 range here and there: both forms must forget the past alike.
  for (size_t i = 7; i < g.size(); i += 29) g[i] = -150.0f;
  const gdn::DeltaInputs in{
      qkv.data(), qkv.data() + d.key_dim(), qkv.data() + 2 * d.key_dim(), d.channels(), beta.data(),
      g.data()};
  for (const int chunk : {1, 5, 16}) {
    std::vector<float> s1(size_t(d.state_size()), 0.1f), s2 = s1;
    std::vector<float> o1(static_cast<size_t>(T * d.value_dim())), o2 = o1;
    gdn::delta_chunked(d, T, in, s1.data(), o1.data(), chunk);
    gdn::delta_recurrent(d, T, in, s2.data(), o2.data());
    EXPECT_LE(rel_err(o1, o2), 1e-5) << "chunk=" << chunk;
    EXPECT_LE(rel_err(s1, s2), 1e-5) << "chunk=" << chunk;
  }
}

TEST(Gdn, ConvShiftsHistoryAndAppliesSilu) {
  // One channel, K = 3, weights pick the oldest column: out[t] = silu(m[t-2]).
  const float w[3] = {1.0f, 0.0f, 0.0f};
  float state[2] = {5.0f, 6.0f};
  float m[4] = {1.0f, 2.0f, 3.0f, 4.0f};
  gdn::conv_silu(m, 4, 1, 3, w, state, m);
  EXPECT_NEAR(m[0], ops::silu(5.0f), 1e-6);
  EXPECT_NEAR(m[1], ops::silu(6.0f), 1e-6);
  EXPECT_NEAR(m[2], ops::silu(1.0f), 1e-6);
  EXPECT_NEAR(m[3], ops::silu(2.0f), 1e-6);
  EXPECT_EQ(state[0], 3.0f);
  EXPECT_EQ(state[1], 4.0f);
  // A call shorter than the history keeps the older column.
  float one = 7.0f;
  gdn::conv_silu(&one, 1, 1, 3, w, state, &one);
  EXPECT_NEAR(one, ops::silu(3.0f), 1e-6);
  EXPECT_EQ(state[0], 4.0f);
  EXPECT_EQ(state[1], 7.0f);
}

TEST(Gdn, GatesFollowPyTorchSoftplusThreshold) {
  const float A_log[2] = {std::log(2.0f), 0.0f};
  const float dt_bias[2] = {0.0f, 1.0f};
  const float a[2] = {25.0f, -1.0f};  // softplus input 25 (identity branch) and 0
  const float b[2] = {0.0f, 2.0f};
  float beta[2], g[2];
  gdn::gates(b, a, 1, 2, A_log, dt_bias, beta, g);
  EXPECT_FLOAT_EQ(beta[0], 0.5f);
  EXPECT_FLOAT_EQ(beta[1], 1.0f / (1.0f + std::exp(-2.0f)));
  EXPECT_FLOAT_EQ(g[0], -50.0f);
  EXPECT_FLOAT_EQ(g[1], -std::log(2.0f));
}

TEST(Gdn, GatedNormUsesPlainWeightAndSiluGate) {
  float o[4] = {1.0f, -1.0f, 3.0f, 3.0f};  // two heads of dv = 2; mean square 1 and 9
  const float z[4] = {0.0f, 1.0f, 2.0f, -1.0f};
  const float w[2] = {2.0f, 0.5f};
  gdn::gated_rms_norm(o, z, 1, 2, 2, w, 0.0f);
  EXPECT_FLOAT_EQ(o[0], 0.0f);
  EXPECT_NEAR(o[1], 0.5f * -1.0f * ops::silu(1.0f), 1e-6);
  EXPECT_NEAR(o[2], 2.0f * 1.0f * ops::silu(2.0f), 1e-6);
  EXPECT_NEAR(o[3], 0.5f * 1.0f * ops::silu(-1.0f), 1e-6);
}

TEST(Gdn, RejectsValueHeadsNotAMultipleOfKeyHeads) {
  const Dims d{2, 3, 8, 8};
  EXPECT_THROW(d.validate(), Error);
  std::vector<float> x(64), s(size_t(3 * 64)), o(24);
  const gdn::DeltaInputs in{x.data(), x.data(), x.data(), 40, x.data(), x.data()};
  EXPECT_THROW(gdn::delta_chunked(d, 1, in, s.data(), o.data()), Error);
}

}  // namespace
}  // namespace spf
