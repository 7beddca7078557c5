// The Support seam at model level: a full-budget oracle (and the dense producer) through
// SupportAttention gives the dense model's logits, for a dense family and for the Qwen3.5 hybrid,
// and a small budget changes them (so the backend is really in the path).
#include <gtest/gtest.h>

#include <cmath>

#include "attention/cpu/cpu_executor.h"
#include "core/npy.h"
#include "model/model.h"
#include "support/producer.h"
#include "support/support_attention.h"
#include "test_util.h"

namespace spf {
namespace {

std::vector<float> logits_with(const Model& m, const std::vector<int32_t>& ids,
                               AttentionBackend& b) {
  std::vector<float> out(ids.size() * size_t(m.config().vocab_size));
  auto st = m.new_state(int64_t(ids.size()));
  m.forward(ids, *st, b, LogitsMode::all, out);
  return out;
}

double max_rel(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0, m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    d = std::max(d, double(std::fabs(a[i] - b[i])));
    m = std::max(m, double(std::fabs(b[i])));
  }
  return d / m;
}

class SupportModel : public ::testing::TestWithParam<std::string> {};

TEST_P(SupportModel, FullBudgetOracleEqualsDenseAndSmallBudgetDiffers) {
  const std::string dir = test::fixture("hf/" + GetParam());
  auto model = load_model(dir);
  const NpyArray a = read_npy(dir + "/ids.npy");
  const std::vector<int32_t> ids(a.data.begin(), a.data.end());
  const std::vector<float> dense = logits_with(*model, ids, dense_attention_backend());
  for (int block : {1, 16}) {
    ProducerOptions full;
    full.budget = Budget::fraction(1.0);
    full.block = block;
    // The sparse executor runs on the full support (no shortcut to the dense path): equal to
    // dense up to fp32 rounding.
    SupportAttentionOptions no_shortcut;
    no_shortcut.full_support_dense = false;
    no_shortcut.diagnostics = true;
    SupportAttention oracle(make_producer("oracle", full), cpu_executor(), no_shortcut);
    EXPECT_LE(max_rel(logits_with(*model, ids, oracle), dense), 1e-5) << "block " << block;
    int sparse_calls = 0;
    for (const LayerDiagnostics& d : oracle.diagnostics()) sparse_calls += d.dense ? 0 : 1;
    EXPECT_GT(sparse_calls, 0) << "the full support must run on the sparse executor";
  }
  ProducerOptions small;
  small.budget = Budget::fraction(0.05);
  SupportAttention sparse(make_producer("oracle", small), cpu_executor());
  EXPECT_GT(max_rel(logits_with(*model, ids, sparse), dense), 1e-3);
}

INSTANTIATE_TEST_SUITE_P(Tiny, SupportModel, ::testing::Values("llama", "qwen3_5_text"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace spf
