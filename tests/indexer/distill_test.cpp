// The indexer's hand-derived gradients against central finite differences, the RoPE transpose,
// and the targets' normalisation.
#include "indexer/distill.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "indexer/indexer_model.h"
#include "test_util.h"

namespace spf {
namespace {

IndexerConfig tiny_config(int heads, int rope_dims, int groups = 1) {
  IndexerConfig c;
  c.d_model = 12;
  c.n_layers = 2;
  c.d_idx = 8;
  c.rope_dims = rope_dims;
  c.n_heads = heads;
  c.n_groups = groups;
  c.rope_theta = 100.0f;
  return c;
}

// Random causal target rows (softmax of random logits; some exact zeros).
std::vector<float> random_targets(int64_t n, uint32_t seed) {
  std::vector<float> p(size_t(n * n), 0.0f);
  const std::vector<float> r = test::random_floats(size_t(n * n), seed, -2.0f, 2.0f);
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t j = 0; j <= i; ++j) s += std::exp(double(r[size_t(i * n + j)]));
    for (int64_t j = 0; j <= i; ++j)
      p[size_t(i * n + j)] = float(std::exp(double(r[size_t(i * n + j)])) / s);
    if (i >= 3) {  // a zero target entry (0 log 0 = 0), renormalised
      const float z = p[size_t(i * n + 1)];
      p[size_t(i * n + 1)] = 0.0f;
      for (int64_t j = 0; j <= i; ++j) p[size_t(i * n + j)] /= (1.0f - z);
    }
  }
  return p;
}

void check_gradient(int heads, int rope_dims, const DistillLoss& loss_spec = {}) {
  const IndexerConfig c = tiny_config(heads, rope_dims);
  IndexerWeights w = random_indexer(c, 7);
  const int64_t n = 9;
  const std::vector<float> x = test::random_floats(size_t(n * c.d_model), 3);
  const std::vector<float> P = random_targets(n, 5);
  const std::vector<float> inv = indexer_inv_freq(c);
  DistillScratch s;
  const int layer = 1;
  std::vector<float> grad(w.params.size(), 0.0f);
  const double loss =
      distill_scorer(w, inv, layer, 0, x.data(), n, P.data(), 1.0, grad.data(), s, loss_spec);
  EXPECT_GT(loss, 0.0);
  // Layer 0 is not touched by layer 1's loss.
  for (int64_t i = 0; i < c.scorer_size(); ++i) ASSERT_EQ(grad[size_t(i)], 0.0f);

  const int64_t begin = param_offset(c, layer, 0, IndexerMatrix::wq);
  const int64_t end = begin + c.scorer_size();
  double num = 0, den = 0, worst = 0;
  for (int64_t i = begin; i < end; ++i) {
    const float keep = w.params[size_t(i)];
    const float h = 1e-2f;
    w.params[size_t(i)] = keep + h;
    const double lp =
        distill_scorer(w, inv, layer, 0, x.data(), n, P.data(), 1.0, nullptr, s, loss_spec);
    w.params[size_t(i)] = keep - h;
    const double lm =
        distill_scorer(w, inv, layer, 0, x.data(), n, P.data(), 1.0, nullptr, s, loss_spec);
    w.params[size_t(i)] = keep;
    const double fd = (lp - lm) / (2.0 * double(h));
    const double an = grad[size_t(i)];
    num += (fd - an) * (fd - an);
    den += an * an;
    worst = std::max(worst, std::abs(fd - an) / std::max(1e-1, std::abs(an)));
  }
  EXPECT_GT(den, 1e-4) << "gradient vanishes";
  EXPECT_LT(std::sqrt(num / den), 5e-3) << "heads=" << heads << " rope=" << rope_dims;
  EXPECT_LT(worst, 5e-2) << "heads=" << heads << " rope=" << rope_dims;
}

TEST(IndexerDistill, GradientMatchesFiniteDifferencesSingleHeadRope) {
  check_gradient(1, 4);
}
TEST(IndexerDistill, GradientMatchesFiniteDifferencesNoRope) {
  check_gradient(1, 0);
}
TEST(IndexerDistill, GradientMatchesFiniteDifferencesLightningHeadsAllRope) {
  check_gradient(3, 8);
}

// FRAC 30% keeps 1-3 of the 1-9 keys of the rows (at 5% every row would keep one key, where the
// restricted KL is identically 0 and a wrong gradient of it could not show).
TEST(IndexerDistill, TopKLossGradientMatchesFiniteDifferencesSingleHeadRope) {
  check_gradient(1, 4, parse_distill_loss("kl+topk:2:30%"));
}
TEST(IndexerDistill, TopKLossGradientMatchesFiniteDifferencesLightningHeads) {
  check_gradient(3, 8, parse_distill_loss("kl+topk:4:0.5"));
}
// The full-softmax cross-entropy on T_i: its gradient reaches every causal key (30% keeps 1-3 of
// the 1-9 keys, so the keys outside T_i are most of each row).
TEST(IndexerDistill, TopCeLossGradientMatchesFiniteDifferencesSingleHeadRope) {
  check_gradient(1, 4, parse_distill_loss("kl+topce:2:30%"));
}
TEST(IndexerDistill, TopCeLossGradientMatchesFiniteDifferencesLightningHeads) {
  check_gradient(3, 8, parse_distill_loss("kl+topce:4:0.5"));
}
TEST(IndexerDistill, TopCeLossGradientMatchesFiniteDifferencesNoRope) {
  check_gradient(1, 0, parse_distill_loss("kl+topce:1:20%"));
}

// The shared setup of the "term matches its definition" tests: a one-head scorer, 11 tokens, random
// targets, the scorer's log-probabilities, and each row's keys ordered best target first (ties:
// lower index).
struct TermCase {
  IndexerConfig c = tiny_config(1, 4);
  IndexerWeights w = random_indexer(c, 13);
  int64_t n = 11;
  std::vector<float> x = test::random_floats(size_t(n * c.d_model), 6);
  std::vector<float> P = random_targets(n, 8);
  std::vector<float> inv = indexer_inv_freq(c);
  DistillScratch s;
  std::vector<float> logs;
  TermCase() { scorer_log_probs(w, inv, 0, 0, x.data(), n, logs, s); }
  const float* target(int64_t i) const { return P.data() + i * n; }
  const float* log_probs(int64_t i) const { return logs.data() + i * n; }
  std::vector<int> order(int64_t i) const {
    const float* p = target(i);
    std::vector<int> o(size_t(i + 1));
    std::iota(o.begin(), o.end(), 0);
    std::stable_sort(o.begin(), o.end(), [p](int a, int b) { return p[a] > p[b]; });
    return o;
  }
  double kl(int64_t i) const {
    const float *p = target(i), *ls = log_probs(i);
    double v = 0;
    for (int64_t j = 0; j <= i; ++j)
      if (p[j] > 0) v += p[j] * (std::log(double(p[j])) - ls[j]);
    return v;
  }
  // Gradient of loss (plain KL when null) into a fresh vector; terms when asked.
  std::vector<float> grad(const DistillLoss* loss, DistillTerms* terms = nullptr,
                          double* value = nullptr) {
    std::vector<float> g(w.params.size(), 0.0f);
    const double v =
        loss ? distill_scorer(w, inv, 0, 0, x.data(), n, P.data(), 1.0, g.data(), s, *loss, terms)
             : distill_scorer(w, inv, 0, 0, x.data(), n, P.data(), 1.0, g.data(), s);
    if (value) *value = v;
    return g;
  }
};

double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff += double(a[i] - b[i]) * double(a[i] - b[i]);
    norm += double(b[i]) * double(b[i]);
  }
  return std::sqrt(diff / norm);
}

// The top-k term against a direct double-precision evaluation of its definition, and its
// gradient is not the plain KL's (so the check above tests the new term).
TEST(IndexerDistill, TopKTermMatchesItsDefinition) {
  TermCase tc;
  const DistillLoss loss = parse_distill_loss("kl+topk:3:25%");
  double want_kl = 0, want_top = 0;
  for (int64_t i = 0; i < tc.n; ++i) {
    const float *p = tc.target(i), *ls = tc.log_probs(i);
    const std::vector<int> order = tc.order(i);
    const int64_t k = int64_t(std::ceil(0.25 * double(i + 1) - 1e-9));
    EXPECT_EQ(topk_keep(0.25, i + 1), k);
    double pt = 0, st = 0;
    for (int64_t t = 0; t < k; ++t) {
      pt += p[order[size_t(t)]];
      st += std::exp(double(ls[order[size_t(t)]]));
    }
    want_kl += tc.kl(i);
    for (int64_t t = 0; t < k; ++t) {
      const int j = order[size_t(t)];
      if (p[j] > 0) want_top += p[j] / pt * (std::log(p[j] / pt) - (double(ls[j]) - std::log(st)));
    }
  }
  DistillTerms terms;
  double got = 0;
  const std::vector<float> g_top = tc.grad(&loss, &terms, &got);
  EXPECT_NEAR(terms.kl, want_kl, 1e-4 * want_kl);
  EXPECT_GT(want_top, 1e-3);
  EXPECT_NEAR(terms.topk, want_top, 1e-4 * want_top);
  EXPECT_NEAR(got, terms.kl + 3.0 * terms.topk, 1e-9 * got);
  double plain = 0;
  const std::vector<float> g_kl = tc.grad(nullptr, nullptr, &plain);
  EXPECT_EQ(plain, terms.kl);
  EXPECT_GT(rel_diff(g_top, g_kl), 0.1) << "the top-k term barely changes the gradient";
}

// The full-softmax cross-entropy term against its definition in double precision; its gradient
// differs from both the plain KL's and the restricted KL's at the same LAMBDA and FRAC.
TEST(IndexerDistill, TopCeTermMatchesItsDefinition) {
  TermCase tc;
  const DistillLoss loss = parse_distill_loss("kl+topce:3:25%");
  double want_kl = 0, want_ce = 0;
  for (int64_t i = 0; i < tc.n; ++i) {
    const float *p = tc.target(i), *ls = tc.log_probs(i);
    const std::vector<int> order = tc.order(i);
    const int64_t k = topk_keep(0.25, i + 1);
    double pt = 0;
    for (int64_t t = 0; t < k; ++t) pt += p[order[size_t(t)]];
    want_kl += tc.kl(i);
    for (int64_t t = 0; t < k; ++t) want_ce -= p[order[size_t(t)]] / pt * ls[order[size_t(t)]];
  }
  DistillTerms terms;
  double got = 0;
  const std::vector<float> g_ce = tc.grad(&loss, &terms, &got);
  EXPECT_NEAR(terms.kl, want_kl, 1e-4 * want_kl);
  EXPECT_GT(want_ce, 1e-3);
  EXPECT_NEAR(terms.topk, want_ce, 1e-4 * want_ce);
  EXPECT_NEAR(got, terms.kl + 3.0 * terms.topk, 1e-9 * got);
  const std::vector<float> g_kl = tc.grad(nullptr);
  const DistillLoss restricted = parse_distill_loss("kl+topk:3:25%");
  const std::vector<float> g_top = tc.grad(&restricted);
  EXPECT_GT(rel_diff(g_ce, g_kl), 0.1) << "the cross-entropy term barely changes the gradient";
  EXPECT_GT(rel_diff(g_ce, g_top), 0.1) << "the cross-entropy term acts like the restricted KL";
}

TEST(IndexerDistill, LossSpecParsesRoundTripsAndRejectsBadSpecs) {
  EXPECT_TRUE(parse_distill_loss("kl").is_kl());
  EXPECT_EQ(parse_distill_loss("kl").spec(), "kl");
  const DistillLoss a = parse_distill_loss("kl+topk:1");
  EXPECT_EQ(a.topk_lambda, 1.0);
  EXPECT_EQ(a.topk_frac, 0.05);
  EXPECT_EQ(a.spec(), "kl+topk:1:0.05");
  const DistillLoss b = parse_distill_loss("kl+topk:0.25:10%");
  EXPECT_EQ(b.topk_lambda, 0.25);
  EXPECT_EQ(b.topk_frac, 0.1);
  EXPECT_EQ(parse_distill_loss(b.spec()), b);
  EXPECT_EQ(a.top_term, DistillLoss::TopTerm::restricted_kl);
  const DistillLoss ce = parse_distill_loss("kl+topce:1");
  EXPECT_EQ(ce.top_term, DistillLoss::TopTerm::full_ce);
  EXPECT_EQ(ce.topk_lambda, 1.0);
  EXPECT_EQ(ce.topk_frac, 0.05);
  EXPECT_EQ(ce.spec(), "kl+topce:1:0.05");
  EXPECT_FALSE(ce.is_kl());
  EXPECT_FALSE(ce == a);  // same numbers, another term
  const DistillLoss ce2 = parse_distill_loss("kl+topce:0.5:20%");
  EXPECT_EQ(ce2.topk_lambda, 0.5);
  EXPECT_EQ(ce2.topk_frac, 0.2);
  EXPECT_EQ(ce2.spec(), "kl+topce:0.5:0.2");
  EXPECT_EQ(parse_distill_loss(ce2.spec()), ce2);
  for (const char* bad : {"",
                          "topk",
                          "kl+topk",
                          "kl+topk:",
                          "kl+topk:0",
                          "kl+topk:-1",
                          "kl+topk:x",
                          "kl+topk:1:",
                          "kl+topk:1:0",
                          "kl+topk:1:150%",
                          "kl+topk:1:0.05:3",
                          "kl+topk:inf",
                          "kl+topk:nan",
                          "topce",
                          "kl+topce",
                          "kl+topce:",
                          "kl+topce:0",
                          "kl+topce:-2",
                          "kl+topce:x",
                          "kl+topce:1:",
                          "kl+topce:1:0",
                          "kl+topce:1:101%",
                          "kl+topce:1:5%:2",
                          "kl+topce:nan",
                          "kl+topcex:1",
                          "kl+topc:1",
                          "kl+topce1",
                          "KL+TOPCE:1"}) {
    try {
      parse_distill_loss(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--loss"), std::string::npos) << e.what();
    }
  }
}

TEST(IndexerDistill, LossIsZeroWhenTheTargetIsTheIndexersOwnDistribution) {
  const IndexerConfig c = tiny_config(2, 4);
  const IndexerWeights w = random_indexer(c, 11);
  const int64_t n = 7;
  const std::vector<float> x = test::random_floats(size_t(n * c.d_model), 4);
  const std::vector<float> inv = indexer_inv_freq(c);
  DistillScratch s;
  std::vector<float> logs;
  scorer_log_probs(w, inv, 0, 0, x.data(), n, logs, s);
  std::vector<float> P(size_t(n * n), 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    double sum = 0;
    for (int64_t j = 0; j <= i; ++j)
      sum += (P[size_t(i * n + j)] = std::exp(logs[size_t(i * n + j)]));
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
  EXPECT_NEAR(distill_scorer(w, inv, 0, 0, x.data(), n, P.data(), 1.0, nullptr, s), 0.0, 1e-5);
}

TEST(IndexerDistill, RopeInverseUndoesRopeAndPositionsShiftScoresOnlyRelatively) {
  const IndexerConfig c = tiny_config(1, 6);
  const std::vector<float> inv = indexer_inv_freq(c);
  std::vector<float> v = test::random_floats(size_t(5 * c.d_idx), 9);
  const std::vector<float> orig = v;
  indexer_rope(c, inv, v.data(), 5, 17, false);
  indexer_rope(c, inv, v.data(), 5, 17, true);
  for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(v[i], orig[i], 1e-5);
  // q at position p against k at position p' depends on p - p' only.
  std::vector<float> q(orig.begin(), orig.begin() + c.d_idx),
      k(orig.begin() + c.d_idx, orig.begin() + 2 * c.d_idx);
  auto score = [&](int64_t pq, int64_t pk) {
    std::vector<float> a = q, b = k;
    indexer_rope(c, inv, a.data(), 1, pq, false);
    indexer_rope(c, inv, b.data(), 1, pk, false);
    float s = 0;
    for (int e = 0; e < c.d_idx; ++e) s += a[size_t(e)] * b[size_t(e)];
    return s;
  };
  EXPECT_NEAR(score(10, 3), score(107, 100), 1e-4);
  EXPECT_GT(std::abs(score(10, 3) - score(10, 9)), 1e-4);
}

TEST(IndexerModel, ConfigValidationNamesTheField) {
  IndexerConfig c = tiny_config(1, 5);
  try {
    c.validate();
    ADD_FAILURE() << "odd rope dims accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rope_dims"), std::string::npos);
  }
  c = tiny_config(1, 4);
  c.d_idx = 1;
  EXPECT_THROW(c.validate(), Error);
}

}  // namespace
}  // namespace spf
