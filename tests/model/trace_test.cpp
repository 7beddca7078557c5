// The trace hook: every documented name is captured with its shape for the layers asked for (and
// only those); the captures fit together (residual = previous residual + mixer_out + mlp_out), the
// last layer's residual through the final norm and the head gives the logits, a chunked prefill
// captures the same rows; layer lists parse with clear errors; `spf logits --dump` writes the
// .npy files and rejects bad layer lists.
#include "model/trace.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <set>

#include "core/error.h"
#include "core/npy.h"
#include "formats/safetensors.h"
#include "model/model.h"
#include "test_util.h"

namespace spf {
namespace {

std::vector<int32_t> fixture_ids(const std::string& dir) {
  const NpyArray a = read_npy(dir + "/ids.npy");
  return {a.data.begin(), a.data.end()};
}

double max_rel(std::span<const float> got, std::span<const float> want) {
  EXPECT_EQ(got.size(), want.size());
  double d = 0, m = 0;
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    d = std::max(d, double(std::fabs(got[i] - want[i])));
    m = std::max(m, double(std::fabs(want[i])));
  }
  return d / m;
}

// The fixture's final norm and head applied to the rows of x [n][H] (fp64 sums), as in HF.
std::vector<float> norm_and_head(const std::string& dir, const ModelConfig& cfg,
                                 const std::vector<float>& x) {
  auto src = open_safetensors_checkpoint(dir);
  const std::string p = cfg.weight_prefix;
  const std::vector<float> w = src->read_f32(p + "norm.weight");
  const std::vector<float> head =
      src->read_f32(cfg.tie_embeddings ? p + "embed_tokens.weight" : "lm_head.weight");
  const int64_t H = cfg.hidden, V = cfg.vocab_size, n = int64_t(x.size()) / H;
  std::vector<float> out(size_t(n * V));
  std::vector<double> h(static_cast<size_t>(H));
  for (int64_t t = 0; t < n; ++t) {
    double ss = 0;
    for (int64_t j = 0; j < H; ++j) ss += double(x[size_t(t * H + j)]) * x[size_t(t * H + j)];
    const double inv = 1.0 / std::sqrt(ss / double(H) + double(cfg.rms_eps));
    for (int64_t j = 0; j < H; ++j) {
      const double g = cfg.norm_plus_one ? 1.0 + w[size_t(j)] : w[size_t(j)];
      h[size_t(j)] = double(x[size_t(t * H + j)]) * inv * g;
    }
    for (int64_t v = 0; v < V; ++v) {
      double s = 0;
      for (int64_t j = 0; j < H; ++j) s += h[size_t(j)] * head[size_t(v * H + j)];
      out[size_t(t * V + v)] = float(s);
    }
  }
  return out;
}

class Trace : public ::testing::TestWithParam<std::string> {};

TEST_P(Trace, NamesShapesAndTheResidualThroughTheHeadGivesTheLogits) {
  const std::string dir = test::fixture("hf/" + GetParam());
  const auto model = load_model(dir);
  const ModelConfig& cfg = model->config();
  const std::vector<int32_t> ids = fixture_ids(dir);
  const int64_t n = int64_t(ids.size()), H = cfg.hidden, D = cfg.head_dim;
  std::set<int> all;
  for (int l = 0; l < cfg.n_layers; ++l) all.insert(l);
  TraceRecorder rec(all);
  auto st = model->new_state(n);
  std::vector<float> logits(size_t(n * cfg.vocab_size));
  ForwardOptions o;
  o.mode = LogitsMode::all;
  o.trace = &rec;
  model->forward(ids, *st, dense_attention_backend(), logits, o);

  for (int l = 0; l < cfg.n_layers; ++l) {
    const bool attn = cfg.layer_types[size_t(l)] == LayerType::full_attention;
    for (const char* name : {trace::kMixerIn, trace::kMixerOut, trace::kMlpOut, trace::kResidual})
      EXPECT_EQ(rec.get(l, name).shape, (std::vector<int64_t>{n, H})) << l << " " << name;
    EXPECT_EQ(rec.arrays().count({l, trace::kQ}), attn ? 1u : 0u) << l;
    if (attn) {
      EXPECT_EQ(rec.get(l, trace::kQ).shape, (std::vector<int64_t>{n, cfg.n_heads, D}));
      EXPECT_EQ(rec.get(l, trace::kK).shape, (std::vector<int64_t>{n, cfg.n_kv_heads, D}));
      EXPECT_EQ(rec.get(l, trace::kV).shape, (std::vector<int64_t>{n, cfg.n_kv_heads, D}));
      EXPECT_EQ(rec.get(l, trace::kAttnOut).shape, (std::vector<int64_t>{n, cfg.n_heads, D}));
    }
    if (l == 0) continue;
    // residual_l = (residual_{l-1} + mixer_out_l) + mlp_out_l, in the model's order of adds.
    const auto& prev = rec.get(l - 1, trace::kResidual).data;
    const auto& mix = rec.get(l, trace::kMixerOut).data;
    const auto& mlp = rec.get(l, trace::kMlpOut).data;
    std::vector<float> sum(prev.size());
    for (size_t i = 0; i < sum.size(); ++i) sum[i] = (prev[i] + mix[i]) + mlp[i];
    EXPECT_EQ(sum, rec.get(l, trace::kResidual).data) << "layer " << l;
  }
  const auto& last = rec.get(cfg.n_layers - 1, trace::kResidual).data;
  EXPECT_LE(max_rel(norm_and_head(dir, cfg, last), logits), 1e-5);
}

TEST_P(Trace, OnlyTheLayersAskedForAndChunkedPrefillCapturesTheSameRows) {
  const std::string dir = test::fixture("hf/" + GetParam());
  const auto model = load_model(dir);
  const ModelConfig& cfg = model->config();
  const std::vector<int32_t> ids = fixture_ids(dir);
  const int last = cfg.n_layers - 1;
  std::vector<float> logits(size_t(cfg.vocab_size));
  TraceRecorder whole({1, last});
  auto s1 = model->new_state(int64_t(ids.size()));
  ForwardOptions o;
  o.trace = &whole;
  model->forward(ids, *s1, dense_attention_backend(), logits, o);
  for (const auto& [key, a] : whole.arrays()) {
    EXPECT_TRUE(key.first == 1 || key.first == last) << key.first;
    EXPECT_EQ(a.pos0, 0);
    EXPECT_EQ(a.shape[0], int64_t(ids.size()));
  }
  TraceRecorder chunked({1, last});
  auto s2 = model->new_state(int64_t(ids.size()));
  o.trace = &chunked;
  o.prefill_chunk = 9;
  model->forward(ids, *s2, dense_attention_backend(), logits, o);
  ASSERT_EQ(chunked.arrays().size(), whole.arrays().size());
  for (const auto& [key, a] : whole.arrays()) {
    const auto& b = chunked.get(key.first, key.second);
    EXPECT_EQ(b.shape, a.shape) << key.second;
    EXPECT_LE(max_rel(b.data, a.data), 1e-5) << key.first << " " << key.second;
  }
}

INSTANTIATE_TEST_SUITE_P(Tiny, Trace, ::testing::Values("llama", "qwen3_5_text"),
                         [](const auto& info) { return info.param; });

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(TraceLayers, ParsesListsAndNamesBadElements) {
  EXPECT_EQ(parse_layer_list("0,5, 2", 6, "--dump-layers"), (std::set<int>{0, 2, 5}));
  EXPECT_EQ(parse_layer_list("all", 3, "--dump-layers"), (std::set<int>{0, 1, 2}));
  const std::string range = error_of([] { parse_layer_list("0,6", 6, "--dump-layers"); });
  EXPECT_NE(range.find("--dump-layers: layer 6 is outside 0..5"), std::string::npos) << range;
  EXPECT_NE(error_of([] { parse_layer_list("-1", 6, "--dump-layers"); }).find("outside"),
            std::string::npos);
  for (const char* bad : {"x", "1,,2", "3a", "1.5", ""}) {
    const std::string e = error_of([&] { parse_layer_list(bad, 6, "--dump-layers"); });
    EXPECT_NE(e.find("--dump-layers"), std::string::npos) << bad;
    EXPECT_TRUE(e.find("not a layer number") != std::string::npos ||
                e.find("empty layer list") != std::string::npos)
        << bad << ": " << e;
  }
}

TEST(TraceRecorder, RejectsAGapInPositions) {
  TraceRecorder rec({0});
  std::vector<float> rows(6, 1.0f);
  rec.capture(0, "mixer_in", 0, TensorView::of(rows.data(), {2, 3}));
  EXPECT_THROW(rec.capture(0, "mixer_in", 3, TensorView::of(rows.data(), {2, 3})), Error);
  EXPECT_THROW(rec.capture(0, "mixer_in", 2, TensorView::of(rows.data(), {3, 2})), Error);
  rec.capture(0, "mixer_in", 2, TensorView::of(rows.data(), {2, 3}));
  EXPECT_EQ(rec.get(0, "mixer_in").shape, (std::vector<int64_t>{4, 3}));
  EXPECT_EQ(TraceRecorder::file_name(5, "attn_out"), "L05.attn_out.npy");
}

// ---- spf logits --dump ----

std::string ids_arg(const std::vector<int32_t>& ids, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s;
}

TEST(TraceCli, LogitsDumpWritesTheLayersAskedFor) {
  const std::string dir = test::fixture("hf/llama");
  const ModelConfig cfg = config_from_hf_file(dir + "/config.json");
  const std::vector<int32_t> ids = fixture_ids(dir);
  test::TempDir t;
  const std::string out = t.file("logits.npy"), dump = t.file("dump");
  const int last = cfg.n_layers - 1;
  const test::CommandResult r = test::run_cli(
      "logits --model " + dir + " --ids " + ids_arg(ids, 20) + " --out " + out + " --dump " + dump +
      " --dump-layers 0," + std::to_string(last) + " --prefill-chunk 6");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dump)) {
    const std::string name = e.path().filename().string();
    const std::string last_prefix = TraceRecorder::file_name(last, "");
    EXPECT_TRUE(name.rfind("L00.", 0) == 0 ||
                name.rfind(last_prefix.substr(0, last_prefix.size() - 4), 0) == 0)
        << name;
    EXPECT_EQ(name.find(".tmp"), std::string::npos) << name;
    ++files;
  }
  EXPECT_EQ(files, 2 * 8);  // every name of an attention layer, two layers
  const NpyArray attn = read_npy(dump + "/L00.attn_out.npy");
  EXPECT_EQ(attn.shape, (std::vector<int64_t>{20, cfg.n_heads, cfg.head_dim}));
  const NpyArray res = read_npy(dump + "/" + TraceRecorder::file_name(last, "residual"));
  ASSERT_EQ(res.shape, (std::vector<int64_t>{20, cfg.hidden}));
  EXPECT_LE(max_rel(norm_and_head(dir, cfg, res.data), read_npy(out).data), 1e-5);
}

TEST(TraceCli, BadDumpLayersAreOneLineErrorsAndWriteNothing) {
  const std::string dir = test::fixture("hf/llama");
  test::TempDir t;
  const std::string out = t.file("logits.npy"), dump = t.file("dump");
  const std::string base = "logits --model " + dir + " --ids 1,2,3 --out " + out;
  struct Case {
    std::string args, needle;
  };
  for (const Case& c : {Case{" --dump " + dump + " --dump-layers 0,3", "layer 3 is outside 0..2"},
                        Case{" --dump " + dump + " --dump-layers 1,x", "'x' is not a layer number"},
                        Case{" --dump-layers 1", "--dump-layers needs --dump"}}) {
    const test::CommandResult r = test::run_cli(base + c.args);
    EXPECT_EQ(r.exit_code, 1) << c.args << ": " << r.output;
    EXPECT_NE(r.output.find("spf: error: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(c.needle), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(out)) << c.args;
    EXPECT_FALSE(std::filesystem::exists(dump)) << c.args;
  }
}

}  // namespace
}  // namespace spf
