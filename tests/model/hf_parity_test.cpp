// Parity with HF transformers: tiny random checkpoints (safetensors + config.json) whose reference
// logits were computed by tools/hf_reference.py in fp32. Criterion: max |ours - HF| / max |HF| <=
// 1e-4.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/npy.h"
#include "model/model.h"
#include "test_util.h"

namespace spf {
namespace {

struct Diff {
  double max_abs_diff = 0, max_abs_ref = 0;
  double rel() const { return max_abs_diff / std::max(max_abs_ref, 1e-30); }
};

Diff compare(std::span<const float> ours, std::span<const float> ref) {
  Diff d;
  for (size_t i = 0; i < ref.size(); ++i) {
    d.max_abs_diff = std::max(d.max_abs_diff, double(std::fabs(ours[i] - ref[i])));
    d.max_abs_ref = std::max(d.max_abs_ref, double(std::fabs(ref[i])));
  }
  return d;
}

std::vector<int32_t> to_ids(const NpyArray& a) {
  return std::vector<int32_t>(a.data.begin(), a.data.end());
}

class HfParity : public ::testing::TestWithParam<std::string> {};

TEST_P(HfParity, FullSequenceLogits) {
  const std::string dir = test::fixture("hf/" + GetParam());
  ASSERT_TRUE(std::filesystem::exists(dir + "/config.json")) << dir;
  auto model = load_model(dir);
  const std::vector<int32_t> ids = to_ids(read_npy(dir + "/ids.npy"));
  const NpyArray ref = read_npy(dir + "/logits.npy");
  ASSERT_GE(ids.size(), 100u);
  const int64_t V = model->config().vocab_size;
  ASSERT_EQ(ref.shape, (std::vector<int64_t>{int64_t(ids.size()), V}));
  std::vector<float> logits(ids.size() * size_t(V));
  auto st = model->new_state(int64_t(ids.size()));
  model->forward(ids, *st, dense_attention_backend(), LogitsMode::all, logits);
  const Diff d = compare(logits, ref.data);
  std::printf("[parity] %s full: max abs diff %.3g, max abs logit %.3g, relative %.3g\n",
              GetParam().c_str(), d.max_abs_diff, d.max_abs_ref, d.rel());
  EXPECT_LE(d.rel(), 1e-4) << "max abs diff " << d.max_abs_diff << ", max abs logit "
                           << d.max_abs_ref;
}

// HF's own cache path: prefill the first half, then decode one token at a time.
TEST_P(HfParity, PrefillThenDecodeLogits) {
  const std::string dir = test::fixture("hf/" + GetParam());
  auto model = load_model(dir);
  const std::vector<int32_t> ids = to_ids(read_npy(dir + "/ids.npy"));
  const NpyArray ref = read_npy(dir + "/logits_decode.npy");
  const int64_t V = model->config().vocab_size;
  const int64_t n_dec = ref.shape[0], prefill = int64_t(ids.size()) - n_dec;
  ASSERT_GT(prefill, 0);
  auto st = model->new_state(int64_t(ids.size()));
  std::vector<float> last(static_cast<size_t>(V)), all;
  model->forward(std::span(ids).first(size_t(prefill)), *st, dense_attention_backend(),
                 LogitsMode::last, last);
  for (int64_t t = prefill; t < int64_t(ids.size()); ++t) {
    model->forward(std::span(ids).subspan(size_t(t), 1), *st, dense_attention_backend(),
                   LogitsMode::last, last);
    all.insert(all.end(), last.begin(), last.end());
  }
  const Diff d = compare(all, ref.data);
  std::printf("[parity] %s decode: max abs diff %.3g, relative %.3g\n", GetParam().c_str(),
              d.max_abs_diff, d.rel());
  EXPECT_LE(d.rel(), 1e-4) << "max abs diff " << d.max_abs_diff << ", max abs logit "
                           << d.max_abs_ref;
}

INSTANTIATE_TEST_SUITE_P(Tiny, HfParity,
                         ::testing::Values("llama", "qwen2", "qwen3", "qwen3_5_text", "qwen3_5"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace spf
