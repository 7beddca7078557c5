// The Qwen3.5 hybrid model on small random checkpoints built here: prefill then decode continues
// exactly, text-only and composite checkpoints load through load_model(), missing or misshapen
// tensors are reported by name, per-part timings are recorded.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <vector>

#include "core/error.h"
#include "formats/tensor_source.h"
#include "model/model.h"
// GCC 12 reports a false -Wrestrict inside std::string concatenation in the writer at -O3.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wrestrict"
#include "formats/writers.h"
#pragma GCC diagnostic pop
#include "model/config.h"
#include "test_util.h"

namespace spf {
namespace {

using json = nlohmann::json;

// A checkpoint held in memory: name -> (shape, fp32 values).
class MemorySource final : public TensorSource {
 public:
  void add(const std::string& name, std::vector<int64_t> shape, std::vector<float> data) {
    TensorInfo info;
    info.name = name;
    info.shape = std::move(shape);
    EXPECT_EQ(info.numel(), int64_t(data.size())) << name;
    if (!infos_.count(name)) order_.push_back(name);
    infos_[name] = info;
    data_[name] = std::move(data);
  }
  void remove(const std::string& name) {
    infos_.erase(name);
    data_.erase(name);
    order_.erase(std::find(order_.begin(), order_.end(), name));
  }
  const std::string& path() const override { return path_; }
  std::vector<std::string> names() const override { return order_; }
  bool has(const std::string& name) const override { return infos_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const override {
    auto it = infos_.find(name);
    if (it == infos_.end()) fail(path_, ": no tensor ", name);
    return it->second;
  }
  void read_f32(const std::string& name, std::span<float> out) const override {
    const std::vector<float>& d = data_.at(name);
    SPF_CHECK(out.size() == d.size(), "size mismatch reading ", name);
    std::copy(d.begin(), d.end(), out.begin());
  }
  using TensorSource::read_f32;

 private:
  std::string path_ = "memory";
  std::vector<std::string> order_;
  std::map<std::string, TensorInfo> infos_;
  std::map<std::string, std::vector<float>> data_;
};

// Causal GQA softmax attention in double precision, straight from the AttentionCall contract.
class NaiveAttention final : public AttentionBackend {
 public:
  void attend(const AttentionCall& c) override {
    const AttentionShape& s = c.shape;
    ++calls;
    layers.push_back(c.attention_layer);
    const int D = s.head_dim;
    const float* cq = c.q.data<const float>();
    const float* ck = c.k.data<const float>();
    const float* cv = c.v.data<const float>();
    float* cout = c.out.data<float>();
    for (int64_t i = 0; i < s.n_q; ++i)
      for (int h = 0; h < s.n_heads; ++h) {
        const float* q = cq + (i * s.n_heads + h) * D;
        const int kh = s.kv_head_of(h);
        const int64_t nk = s.visible(i);
        std::vector<double> p(static_cast<size_t>(nk));
        double mx = -1e300;
        for (int64_t j = 0; j < nk; ++j) {
          const float* k = ck + (j * s.n_kv_heads + kh) * D;
          double dot = 0;
          for (int d = 0; d < D; ++d) dot += double(q[d]) * k[d];
          p[size_t(j)] = dot * s.scale;
          mx = std::max(mx, p[size_t(j)]);
        }
        double sum = 0;
        for (double& x : p) sum += x = std::exp(x - mx);
        float* o = cout + (i * s.n_heads + h) * D;
        for (int d = 0; d < D; ++d) {
          double acc = 0;
          for (int64_t j = 0; j < nk; ++j)
            acc += p[size_t(j)] * cv[(j * s.n_kv_heads + kh) * D + d];
          o[d] = float(acc / sum);
        }
      }
  }
  int calls = 0;
  std::vector<int> layers;
};

// Layers: GDN, full, GDN, GDN, full. nk != nv, dk != dv, partial rotary (16 * 0.25 = 4 dims).
json tiny_text_config(bool tied) {
  return json{
      {"architectures", {"Qwen3_5ForCausalLM"}},
      {"model_type", "qwen3_5_text"},
      {"vocab_size", 61},
      {"hidden_size", 32},
      {"intermediate_size", 48},
      {"num_hidden_layers", 5},
      {"num_attention_heads", 4},
      {"num_key_value_heads", 2},
      {"head_dim", 16},
      {"linear_num_key_heads", 2},
      {"linear_num_value_heads", 4},
      {"linear_key_head_dim", 8},
      {"linear_value_head_dim", 12},
      {"linear_conv_kernel_dim", 4},
      {"layer_types",
       {"linear_attention", "full_attention", "linear_attention", "linear_attention",
        "full_attention"}},
      {"rms_norm_eps", 1e-6},
      {"tie_word_embeddings", tied},
      {"max_position_embeddings", 512},
      {"rope_parameters",
       {{"rope_type", "default"}, {"rope_theta", 10000.0}, {"partial_rotary_factor", 0.25}}},
  };
}

// The composite (Qwen3_5ForConditionalGeneration) form of the same text model.
json tiny_composite_config(bool tied) {
  json text = tiny_text_config(tied);
  text.erase("architectures");
  return json{{"architectures", {"Qwen3_5ForConditionalGeneration"}},
              {"model_type", "qwen3_5"},
              {"tie_word_embeddings", tied},
              {"text_config", text},
              {"vision_config", {{"depth", 1}}}};
}

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

// Random weights for cfg under HF text names ("model.*", "lm_head.weight"), scaled so activations
// stay O(1); (1+w) norms near 0, the GDN gated norm near 1.
std::map<std::string, Tensor> random_weights(const ModelConfig& c, uint32_t seed) {
  std::map<std::string, Tensor> w;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float lo, float hi) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    w[name] = {shape, test::random_floats(size_t(n), seed++, lo, hi)};
  };
  auto lin = [&](const std::string& name, int64_t out, int64_t in) {
    const float a = 1.0f / std::sqrt(float(in));
    add(name, {out, in}, -a, a);
  };
  const int64_t H = c.hidden, V = c.vocab_size, I = c.intermediate, D = c.head_dim;
  add("model.embed_tokens.weight", {V, H}, -1.0f, 1.0f);
  add("model.norm.weight", {H}, -0.2f, 0.2f);
  if (!c.tie_embeddings) lin("lm_head.weight", V, H);
  const int64_t C = 2 * int64_t(c.lin_k_heads) * c.lin_k_dim + int64_t(c.lin_v_heads) * c.lin_v_dim;
  const int64_t VD = int64_t(c.lin_v_heads) * c.lin_v_dim, NV = c.lin_v_heads;
  for (int i = 0; i < c.n_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", {H}, -0.2f, 0.2f);
    add(p + "post_attention_layernorm.weight", {H}, -0.2f, 0.2f);
    lin(p + "mlp.gate_proj.weight", I, H);
    lin(p + "mlp.up_proj.weight", I, H);
    lin(p + "mlp.down_proj.weight", H, I);
    if (c.layer_types[size_t(i)] == LayerType::linear_attention) {
      const std::string g = p + "linear_attn.";
      lin(g + "in_proj_qkv.weight", C, H);
      lin(g + "in_proj_z.weight", VD, H);
      lin(g + "in_proj_b.weight", NV, H);
      lin(g + "in_proj_a.weight", NV, H);
      add(g + "conv1d.weight", {C, 1, c.conv_kernel}, -0.6f, 0.6f);
      add(g + "dt_bias", {NV}, -0.5f, 0.5f);
      add(g + "A_log", {NV}, -1.0f, 0.5f);
      add(g + "norm.weight", {c.lin_v_dim}, 0.5f, 1.5f);
      lin(g + "out_proj.weight", H, VD);
    } else {
      const std::string a = p + "self_attn.";
      lin(a + "q_proj.weight", 2 * c.n_heads * D, H);
      lin(a + "k_proj.weight", c.n_kv_heads * D, H);
      lin(a + "v_proj.weight", c.n_kv_heads * D, H);
      lin(a + "o_proj.weight", H, c.n_heads * D);
      add(a + "q_norm.weight", {D}, -0.3f, 0.3f);
      add(a + "k_norm.weight", {D}, -0.3f, 0.3f);
    }
  }
  return w;
}

// Stored name of an HF text name under the checkpoint's prefix.
std::string stored(const std::string& name, const std::string& prefix) {
  return name.rfind("model.", 0) == 0 ? prefix + name.substr(6) : name;
}

MemorySource memory_source(const std::map<std::string, Tensor>& w, const std::string& prefix) {
  MemorySource src;
  for (const auto& [name, t] : w) src.add(stored(name, prefix), t.shape, t.data);
  return src;
}

struct Tiny {
  ModelConfig cfg;
  std::map<std::string, Tensor> weights;
  explicit Tiny(bool tied = false, uint32_t seed = 1)
      : cfg(config_from_hf_json(tiny_text_config(tied), "tiny")),
        weights(random_weights(cfg, seed)) {}
  std::unique_ptr<Model> model() const { return make_model(cfg, memory_source(weights, "model.")); }
};

std::vector<int32_t> random_tokens(int64_t n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int32_t& x : t) x = int32_t(rng() % uint32_t(vocab));
  return t;
}

// Logits of all tokens, fed to one fresh state in calls of the given sizes.
std::vector<float> run_in_pieces(const Model& m, const std::vector<int32_t>& tokens,
                                 const std::vector<int64_t>& pieces, AttentionBackend& attention) {
  const int64_t V = m.config().vocab_size;
  auto state = m.new_state(int64_t(tokens.size()));
  std::vector<float> logits(tokens.size() * size_t(V));
  int64_t t0 = 0;
  for (int64_t n : pieces) {
    m.forward(std::span(tokens).subspan(size_t(t0), size_t(n)), *state, attention, LogitsMode::all,
              std::span(logits).subspan(size_t(t0 * V), size_t(n * V)));
    t0 += n;
  }
  EXPECT_EQ(t0, int64_t(tokens.size()));
  EXPECT_EQ(state->n_past(), t0);
  return logits;
}

double rel_err(const std::vector<float>& got, const std::vector<float>& want) {
  EXPECT_EQ(got.size(), want.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    num = std::max(num, std::abs(double(got[i]) - double(want[i])));
    den = std::max(den, std::abs(double(want[i])));
  }
  return den > 0 ? num / den : num;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Qwen35, PrefillThenDecodeEqualsOnePrefill) {
  const Tiny tiny;
  const auto model = tiny.model();
  NaiveAttention attention;
  constexpr int64_t kPrefill = 70, kDecode = 6;  // prefill crosses a 64-token GDN chunk
  const auto tokens = random_tokens(kPrefill + kDecode, tiny.cfg.vocab_size, 3);
  const auto whole = run_in_pieces(*model, tokens, {kPrefill + kDecode}, attention);
  std::vector<int64_t> pieces{kPrefill};
  pieces.resize(size_t(1 + kDecode), 1);
  const auto decoded = run_in_pieces(*model, tokens, pieces, attention);
  EXPECT_LE(rel_err(decoded, whole), 1e-4);
  // Two full-attention layers per call, numbered 0 and 1 among attention layers.
  EXPECT_EQ(attention.calls, 2 * (1 + 1 + kDecode));
  EXPECT_EQ(attention.layers[0], 0);
  EXPECT_EQ(attention.layers[1], 1);
  // Logits are not degenerate (the comparison above would pass for a constant model).
  const auto [lo, hi] = std::minmax_element(whole.begin(), whole.end());
  EXPECT_GT(*hi - *lo, 0.1f);
}

TEST(Qwen35, SplitPrefillEqualsOnePrefill) {
  const Tiny tiny(/*tied=*/true, 7);
  const auto model = tiny.model();
  NaiveAttention attention;
  const auto tokens = random_tokens(150, tiny.cfg.vocab_size, 4);
  const auto whole = run_in_pieces(*model, tokens, {150}, attention);
  EXPECT_LE(rel_err(run_in_pieces(*model, tokens, {2, 65, 83}, attention), whole), 1e-4);
}

TEST(Qwen35, LastLogitsAreTheLastRowOfAll) {
  const Tiny tiny;
  const auto model = tiny.model();
  NaiveAttention attention;
  const auto tokens = random_tokens(20, tiny.cfg.vocab_size, 5);
  const auto all = run_in_pieces(*model, tokens, {20}, attention);
  auto state = model->new_state(20);
  std::vector<float> last(static_cast<size_t>(tiny.cfg.vocab_size));
  model->forward(tokens, *state, attention, LogitsMode::last, last);
  const std::vector<float> want(all.end() - tiny.cfg.vocab_size, all.end());
  EXPECT_LE(rel_err(last, want), 1e-6);
}

TEST(Qwen35, TiedModelNeedsNoLmHeadAndUntiedUsesIt) {
  const Tiny tied(true, 11);
  EXPECT_EQ(tied.weights.count("lm_head.weight"), 0u);
  const auto model = tied.model();
  NaiveAttention attention;
  const auto tokens = random_tokens(9, tied.cfg.vocab_size, 6);
  const auto a = run_in_pieces(*model, tokens, {9}, attention);

  // The same weights untied, with lm_head = embed_tokens, give the same logits.
  Tiny untied(false, 11);
  untied.weights = tied.weights;
  untied.weights["lm_head.weight"] = tied.weights.at("model.embed_tokens.weight");
  EXPECT_LE(rel_err(run_in_pieces(*untied.model(), tokens, {9}, attention), a), 1e-6);
  // ... and a different head changes them.
  for (float& x : untied.weights["lm_head.weight"].data) x *= 0.5f;
  EXPECT_GT(rel_err(run_in_pieces(*untied.model(), tokens, {9}, attention), a), 0.1);
}

TEST(Qwen35, MissingGdnTensorIsNamed) {
  const Tiny tiny;
  MemorySource src = memory_source(tiny.weights, "model.");
  src.remove("model.layers.2.linear_attn.A_log");
  const std::string err = error_of([&] { make_model(tiny.cfg, src); });
  EXPECT_NE(err.find("missing tensor model.layers.2.linear_attn.A_log"), std::string::npos) << err;
}

TEST(Qwen35, MissingUntiedLmHeadIsNamed) {
  const Tiny tiny(false);
  MemorySource src = memory_source(tiny.weights, "model.");
  src.remove("lm_head.weight");
  const std::string err = error_of([&] { make_model(tiny.cfg, src); });
  EXPECT_NE(err.find("lm_head.weight"), std::string::npos) << err;
}

TEST(Qwen35, HeadCountsThatDisagreeWithTheWeightsAreRejected) {
  const Tiny tiny;
  // Config says 4 value heads; build weights for 2 and expect the first GDN tensor to be named.
  ModelConfig two = tiny.cfg;
  two.lin_v_heads = 2;
  const MemorySource src = memory_source(random_weights(two, 3), "model.");
  const std::string err = error_of([&] { make_model(tiny.cfg, src); });
  EXPECT_NE(err.find("model.layers.0.linear_attn.in_proj_qkv.weight has shape"), std::string::npos)
      << err;

  ModelConfig odd = tiny.cfg;
  odd.lin_v_heads = 3;  // not a multiple of 2 key heads
  const std::string err2 = error_of([&] { make_model(odd, src); });
  EXPECT_NE(err2.find("not a multiple"), std::string::npos) << err2;

  ModelConfig kv = tiny.cfg;
  kv.n_kv_heads = 3;  // 4 query heads
  const std::string err3 = error_of([&] { make_model(kv, src); });
  EXPECT_FALSE(err3.empty());
}

TEST(Qwen35, RejectsOverflowBadTokensAndForeignState) {
  const Tiny tiny;
  const auto model = tiny.model();
  NaiveAttention attention;
  auto state = model->new_state(4);
  std::vector<float> logits(static_cast<size_t>(tiny.cfg.vocab_size));
  const std::vector<int32_t> five(5, 1), bad{1, 61};
  EXPECT_NE(error_of([&] {
              model->forward(five, *state, attention, LogitsMode::last, logits);
            }).find("capacity"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              model->forward(bad, *state, attention, LogitsMode::last, logits);
            }).find("token id 61"),
            std::string::npos);
  EXPECT_EQ(state->n_past(), 0);
  EXPECT_THROW(model->new_state(513), Error);
}

TEST(Qwen35, RecordsTimePerLayerType) {
  const Tiny tiny;
  const auto model = tiny.model();
  NaiveAttention attention;
  const auto tokens = random_tokens(40, tiny.cfg.vocab_size, 8);
  run_in_pieces(*model, tokens, {30, 10}, attention);
  const ForwardStats s = model->stats();
  EXPECT_EQ(s.tokens, 40);
  EXPECT_EQ(s.calls, 2);
  EXPECT_GT(s.mixer(MixerKind::gated_deltanet), 0.0);
  EXPECT_GT(s.core(MixerKind::gated_deltanet), 0.0);
  EXPECT_LE(s.core(MixerKind::gated_deltanet), s.mixer(MixerKind::gated_deltanet));
  EXPECT_GT(s.mixer(MixerKind::attention), 0.0);
  EXPECT_LE(s.core(MixerKind::attention), s.mixer(MixerKind::attention));
  EXPECT_GT(s.mlp_s, 0.0);
  EXPECT_GT(s.other_s, 0.0);
  model->reset_stats();
  EXPECT_EQ(model->stats().tokens, 0);
}

// Writes config.json and model.safetensors (tensors under prefix, plus extra entries) to dir.
void write_checkpoint(const test::TempDir& dir, const json& config,
                      const std::map<std::string, Tensor>& w, const std::string& prefix,
                      const std::map<std::string, Tensor>& extra = {}) {
  test::write_bytes(dir.file("config.json"), config.dump(2));
  test::SafetensorsBuilder b;
  for (const auto& [name, t] : w)
    b.tensor(stored(name, prefix), "F32", t.shape, test::to_bytes(t.data));
  for (const auto& [name, t] : extra) b.tensor(name, "F32", t.shape, test::to_bytes(t.data));
  test::write_bytes(dir.file("model.safetensors"), b.build());
}

TEST(Qwen35, LoadsTextOnlyAndCompositeCheckpoints) {
  const Tiny tiny(true, 21);
  const auto tokens = random_tokens(33, tiny.cfg.vocab_size, 9);
  NaiveAttention attention;
  const auto want = run_in_pieces(*tiny.model(), tokens, {33}, attention);

  test::TempDir text;
  write_checkpoint(text, tiny_text_config(true), tiny.weights, "model.");
  const auto m1 = load_model(text.path().string());
  EXPECT_EQ(m1->config().arch, Arch::qwen35);
  EXPECT_LE(rel_err(run_in_pieces(*m1, tokens, {33}, dense_attention_backend()), want), 1e-4);

  // Composite: text weights under model.language_model.*, vision and MTP tensors ignored.
  test::TempDir comp;
  const std::map<std::string, Tensor> extra{
      {"model.visual.blocks.0.attn.qkv.weight", {{6, 4}, std::vector<float>(24, 0.5f)}},
      {"mtp.fc.weight", {{32, 64}, std::vector<float>(32 * 64, 0.25f)}},
      {"mtp.layers.0.self_attn.q_proj.weight", {{128, 32}, std::vector<float>(128 * 32, 0.1f)}}};
  write_checkpoint(comp, tiny_composite_config(true), tiny.weights, "model.language_model.", extra);
  const auto m2 = load_model(comp.path().string());
  EXPECT_EQ(m2->config().weight_prefix, "model.language_model.");
  EXPECT_LE(rel_err(run_in_pieces(*m2, tokens, {30, 1, 1, 1}, dense_attention_backend()), want),
            1e-4);
}

TEST(Qwen35, CompositeCheckpointMissingTensorNamesStoredName) {
  const Tiny tiny(true, 22);
  auto w = tiny.weights;
  w.erase("model.layers.3.linear_attn.conv1d.weight");
  test::TempDir comp;
  write_checkpoint(comp, tiny_composite_config(true), w, "model.language_model.");
  const std::string err = error_of([&] { load_model(comp.path().string()); });
  EXPECT_NE(err.find("model.language_model.layers.3.linear_attn.conv1d.weight"), std::string::npos)
      << err;
}

}  // namespace
}  // namespace spf
