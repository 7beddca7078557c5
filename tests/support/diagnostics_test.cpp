#include "support/diagnostics.h"

#include <gtest/gtest.h>

#include <cmath>

#include "attention/cpu/cpu_executor.h"
#include "attention/cpu/dense.h"
#include "attention/cpu/sparse.h"
#include "core/error.h"
#include "support/producer.h"
#include "support/support_attention.h"
#include "support_fixture.h"

namespace spf {
namespace {

Support from_test(const test::TestSupport& t) {
  Support s = support_layout(AttentionShape{t.n_q, t.n_kv, t.q_pos0, 1, 1, 1, 1.0f}, t.q_block,
                             t.k_block, t.n_groups);
  s.row_ptr = t.row_ptr;
  s.cols = t.cols;
  return s;
}

TEST(Diagnostics, FullSupportRetainsEverything) {
  test::AttnInputs in = test::make_inputs(70, 100, 4, 2, 64, 3);
  const Support full = dense_support(in.shape, 16);
  dense_attention(in.call());
  const SupportDiagnostics d = diagnose_support(cpu_executor(), in.call(), full, in.out.data());
  EXPECT_DOUBLE_EQ(d.density, 1.0);
  EXPECT_NEAR(d.retained_mass, 1.0, 1e-5);
  EXPECT_EQ(d.rel_error, 0.0);
  EXPECT_GT(d.critical_pairs, 0);
  EXPECT_EQ(d.critical_dropped, 0);
}

struct DiagCase {
  int q_block, k_block, groups_kind;
};

class DiagnosticsVsBruteForce : public ::testing::TestWithParam<DiagCase> {};

TEST_P(DiagnosticsVsBruteForce, MassAndCriticalCounts) {
  const DiagCase c = GetParam();
  test::AttnInputs in = test::make_inputs(50, 80, 4, 2, 32, 6, 5.0f);
  const AttentionShape& sh = in.shape;
  const int groups = c.groups_kind == 0 ? 1 : c.groups_kind == 1 ? sh.n_kv_heads : sh.n_heads;
  const Support s = from_test(test::random_support(sh, c.q_block, c.k_block, groups, 0.3, 12));
  const float threshold = 0.1f;
  const SupportDiagnostics d = support_mass_diagnostics(cpu_executor(), in.call(), s, threshold);

  const std::vector<double> p = reference_probabilities(sh, in.q.data(), in.k.data());
  double retained = 0.0;
  int64_t critical = 0, dropped = 0;
  for (int64_t i = 0; i < sh.n_q; ++i) {
    for (int64_t j = 0; j < sh.n_kv; ++j) {
      bool crit = false, drop = false;
      for (int h = 0; h < sh.n_heads; ++h) {
        const auto row = s.row(s.group_of_head(h, sh.n_heads, sh.n_kv_heads), i / c.q_block);
        const bool in_support = j <= sh.q_pos0 + i &&
                                std::binary_search(row.begin(), row.end(), int32_t(j / c.k_block));
        const double ph = p[size_t((h * sh.n_q + i) * sh.n_kv + j)];
        if (in_support) retained += ph / sh.n_heads;
        // Skip probabilities within fp32 noise of the threshold: the tiled pass may round either
        // way.
        if (std::abs(ph - threshold) < 1e-6) GTEST_SKIP() << "probability on the threshold";
        crit |= ph > threshold;
        drop |= ph > threshold && !in_support;
      }
      critical += crit;
      dropped += drop;
    }
  }
  EXPECT_NEAR(d.retained_mass, retained / double(sh.n_q), 1e-5);
  EXPECT_GT(d.retained_mass, 0.0);
  EXPECT_LE(d.retained_mass, 1.0 + 1e-6);
  EXPECT_EQ(d.critical_pairs, critical);
  EXPECT_EQ(d.critical_dropped, dropped);
  EXPECT_GT(dropped, 0);
  EXPECT_NEAR(d.density, double(s.admitted_pairs()) / double(groups * s.causal_pairs()), 1e-12);

  // Output error, against a direct computation.
  test::AttnInputs dense = in;
  dense_attention(dense.call());
  sparse_attention(in.call(), s.view());
  const SupportDiagnostics full =
      diagnose_support(cpu_executor(), in.call(), s, in.out.data(), nullptr, threshold);
  double num = 0.0, den = 0.0;
  for (size_t x = 0; x < in.out.size(); ++x) {
    num += std::pow(double(in.out[x]) - double(dense.out[x]), 2);
    den += std::pow(double(dense.out[x]), 2);
  }
  EXPECT_NEAR(full.rel_error, std::sqrt(num / den), 1e-9);
  EXPECT_GT(full.rel_error, 0.0);
}

INSTANTIATE_TEST_SUITE_P(Supports, DiagnosticsVsBruteForce,
                         ::testing::Values(DiagCase{1, 1, 0}, DiagCase{1, 1, 2}, DiagCase{8, 8, 0},
                                           DiagCase{5, 3, 1}));

TEST(SupportAttention, DenseLayersDecodeAndDiagnostics) {
  test::AttnInputs in = test::make_inputs(64, 96, 4, 2, 64, 8);
  test::AttnInputs dense = in;
  dense_attention(dense.call());

  ProducerOptions o;
  o.budget = Budget::fraction(0.1);
  o.block = 16;
  SupportAttentionOptions opt;
  opt.dense_layers = 2;
  opt.diagnostics = true;
  SupportAttention backend(make_producer("oracle", o), cpu_executor(), opt);
  int observed = 0;
  backend.set_observer([&](const AttentionCall& call, const Support& s) {
    ++observed;
    EXPECT_EQ(s.n_q, call.shape.n_q);
  });

  AttentionCall call = in.call();
  for (int layer = 0; layer < 3; ++layer) {
    call.layer = layer;
    call.attention_layer = layer;
    backend.attend(call);
    if (layer < 2) {
      EXPECT_EQ(in.out, dense.out) << "layer " << layer << " should run dense";
    }
  }
  EXPECT_NE(in.out, dense.out);
  EXPECT_EQ(observed, 1);
  ASSERT_EQ(backend.diagnostics().size(), 3u);
  const LayerDiagnostics& d0 = backend.diagnostics()[0];
  EXPECT_TRUE(d0.dense);
  EXPECT_EQ(d0.support.retained_mass, 1.0);
  EXPECT_EQ(d0.support.rel_error, 0.0);
  const LayerDiagnostics& d2 = backend.diagnostics()[2];
  EXPECT_FALSE(d2.dense);
  EXPECT_EQ(d2.layer, 2);
  EXPECT_GT(d2.support.density, 0.0);
  EXPECT_LT(d2.support.density, 1.0);
  EXPECT_GT(d2.support.retained_mass, 0.0);
  EXPECT_LE(d2.support.retained_mass, 1.0 + 1e-6);
  EXPECT_GT(d2.support.rel_error, 0.0);
  EXPECT_TRUE(std::isfinite(d2.support.rel_error));

  // A decode step runs dense.
  test::AttnInputs step = test::make_inputs(1, 97, 4, 2, 64, 9);
  test::AttnInputs step_dense = step;
  AttentionCall sc = step.call();
  sc.attention_layer = 5;
  backend.attend(sc);
  dense_attention(step_dense.call());
  EXPECT_EQ(step.out, step_dense.out);
  EXPECT_EQ(observed, 1);

  backend.clear_diagnostics();
  EXPECT_TRUE(backend.diagnostics().empty());
  EXPECT_THROW(SupportAttention(nullptr, cpu_executor()), Error);
}

TEST(SupportAttention, MatchesSparseExecutorOnTheProducedSupport) {
  test::AttnInputs in = test::make_inputs(100, 100, 4, 1, 64, 10);
  ProducerOptions o;
  o.budget = Budget::top_k(32).with_sink(4);
  o.block = 8;
  test::AttnInputs direct = in;
  const Support s = make_producer("streaming", o)->produce(direct.call(), cpu_executor());
  sparse_attention(direct.call(), s.view());
  SupportAttention backend(make_producer("streaming", o), cpu_executor());
  backend.attend(in.call());
  EXPECT_EQ(in.out, direct.out);
}

}  // namespace
}  // namespace spf
