// Prefill throughput of a Qwen3.5-0.8B-shaped hybrid model with random weights (hidden 1024,
// 24 layers = 18 GDN + 6 full, 8 Q / 2 KV heads of 256, GDN 16 k / 16 v heads of 128, SwiGLU 3584,
// tied embeddings), dense attention. Reports tokens/s per prompt length and the time split into
// GDN layers, full-attention layers, MLPs and the rest, from the model's own ForwardStats.
//
//   qwen35_bench [--tokens 2048,8192] [--vocab 248320] [--threads N] [--repeat 1]
//
// --vocab shrinks the embedding / lm_head (the full 248320 x 1024 table is 1 GiB in fp32); with
// LogitsMode::last it only changes the one-row lm_head matmul and the load time.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/threads.h"
#include "core/timer.h"
#include "formats/tensor_source.h"
#include "model/config.h"
#include "model/model.h"

namespace {

using spf::TensorInfo;

uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Every tensor of a Qwen3.5 text checkpoint, filled on read with uniform values in
// [center - scale, center + scale] from a hash of (name, index): no memory held besides the infos.
class RandomSource final : public spf::TensorSource {
 public:
  explicit RandomSource(const spf::ModelConfig& c) {
    const int64_t H = c.hidden, I = c.intermediate, D = c.head_dim, V = c.vocab_size;
    const int64_t NV = c.lin_v_heads, VD = NV * c.lin_v_dim;
    const int64_t C = 2 * int64_t(c.lin_k_heads) * c.lin_k_dim + VD;
    auto lin = [&](const std::string& n, int64_t out, int64_t in) {
      add(n, {out, in}, 0.0f, 1.0f / std::sqrt(float(in)));
    };
    add("model.embed_tokens.weight", {V, H}, 0.0f, 1.0f);
    add("model.norm.weight", {H}, 0.0f, 0.1f);
    if (!c.tie_embeddings) lin("lm_head.weight", V, H);
    for (int i = 0; i < c.n_layers; ++i) {
      const std::string p = "model.layers." + std::to_string(i) + ".";
      add(p + "input_layernorm.weight", {H}, 0.0f, 0.1f);
      add(p + "post_attention_layernorm.weight", {H}, 0.0f, 0.1f);
      lin(p + "mlp.gate_proj.weight", I, H);
      lin(p + "mlp.up_proj.weight", I, H);
      lin(p + "mlp.down_proj.weight", H, I);
      if (c.layer_types[size_t(i)] == spf::LayerType::linear_attention) {
        const std::string g = p + "linear_attn.";
        lin(g + "in_proj_qkv.weight", C, H);
        lin(g + "in_proj_z.weight", VD, H);
        lin(g + "in_proj_b.weight", NV, H);
        lin(g + "in_proj_a.weight", NV, H);
        add(g + "conv1d.weight", {C, 1, c.conv_kernel}, 0.0f, 0.5f);
        add(g + "dt_bias", {NV}, 0.0f, 0.5f);
        add(g + "A_log", {NV}, -1.0f, 1.0f);
        add(g + "norm.weight", {c.lin_v_dim}, 1.0f, 0.1f);
        lin(g + "out_proj.weight", H, VD);
      } else {
        const std::string a = p + "self_attn.";
        lin(a + "q_proj.weight", 2 * c.n_heads * D, H);
        lin(a + "k_proj.weight", c.n_kv_heads * D, H);
        lin(a + "v_proj.weight", c.n_kv_heads * D, H);
        lin(a + "o_proj.weight", H, c.n_heads * D);
        add(a + "q_norm.weight", {D}, 0.0f, 0.1f);
        add(a + "k_norm.weight", {D}, 0.0f, 0.1f);
      }
    }
  }
  const std::string& path() const override { return path_; }
  std::vector<std::string> names() const override { return order_; }
  bool has(const std::string& name) const override { return tensors_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const override { return get(name).info; }
  using spf::TensorSource::read_f32;
  void read_f32(const std::string& name, std::span<float> out) const override {
    const Entry& e = get(name);
    SPF_CHECK(int64_t(out.size()) == e.info.numel(), "random source: size mismatch for ", name);
    const uint64_t seed = std::hash<std::string>{}(name);
    const int64_t n = int64_t(out.size());
#pragma omp parallel for
    for (int64_t i = 0; i < n; ++i) {
      const double u = double(splitmix(seed ^ uint64_t(i)) >> 11) * 0x1.0p-53;  // [0, 1)
      out[size_t(i)] = e.center + e.scale * float(2.0 * u - 1.0);
    }
  }

 private:
  struct Entry {
    TensorInfo info;
    float center = 0, scale = 0;
  };
  void add(const std::string& name, std::vector<int64_t> shape, float center, float scale) {
    Entry e;
    e.info.name = name;
    e.info.shape = std::move(shape);
    e.center = center;
    e.scale = scale;
    tensors_[name] = e;
    order_.push_back(name);
  }
  const Entry& get(const std::string& name) const {
    auto it = tensors_.find(name);
    SPF_CHECK(it != tensors_.end(), "random source: no tensor ", name);
    return it->second;
  }
  std::string path_ = "random-qwen3.5-0.8b";
  std::vector<std::string> order_;
  std::map<std::string, Entry> tensors_;
};

nlohmann::json config_08b(int vocab) {
  return {{"architectures", {"Qwen3_5ForCausalLM"}},
          {"model_type", "qwen3_5_text"},
          {"vocab_size", vocab},
          {"hidden_size", 1024},
          {"intermediate_size", 3584},
          {"num_hidden_layers", 24},
          {"num_attention_heads", 8},
          {"num_key_value_heads", 2},
          {"head_dim", 256},
          {"linear_num_key_heads", 16},
          {"linear_num_value_heads", 16},
          {"linear_key_head_dim", 128},
          {"linear_value_head_dim", 128},
          {"linear_conv_kernel_dim", 4},
          {"full_attention_interval", 4},
          {"rms_norm_eps", 1e-6},
          {"tie_word_embeddings", true},
          {"max_position_embeddings", 262144},
          {"rope_parameters",
           {{"rope_type", "default"}, {"rope_theta", 1e7}, {"partial_rotary_factor", 0.25}}}};
}

std::vector<int64_t> parse_list(const char* s) {
  std::vector<int64_t> v;
  for (const char* p = s; *p;) {
    char* end = nullptr;
    v.push_back(std::strtoll(p, &end, 10));
    SPF_CHECK(end != p && v.back() > 0, "bad --tokens list '", s, "'");
    p = *end == ',' ? end + 1 : end;
  }
  return v;
}

int run(int argc, char** argv) {
  std::vector<int64_t> lengths{2048, 8192};
  int vocab = 248320, repeat = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    SPF_CHECK(i + 1 < argc, "option ", a, " needs a value");
    const char* v = argv[++i];
    if (a == "--tokens")
      lengths = parse_list(v);
    else if (a == "--vocab")
      vocab = std::atoi(v);
    else if (a == "--threads")
      spf::set_num_threads(std::atoi(v));
    else if (a == "--repeat")
      repeat = std::max(1, std::atoi(v));
    else
      spf::fail("unknown option ", a, " (--tokens, --vocab, --threads, --repeat)");
  }
  const spf::ModelConfig cfg = spf::config_from_hf_json(config_08b(vocab), "qwen35_bench");
  spf::Stopwatch load;
  const RandomSource src(cfg);
  const auto model = spf::make_model(cfg, src);
  std::printf("Qwen3.5-0.8B shape, random weights, vocab %d, %d threads, loaded in %.1f s\n", vocab,
              spf::num_threads(), load.seconds());
  std::printf("%7s %9s %9s | %8s %8s | %8s %8s | %8s %8s  (seconds)\n", "tokens", "time_s", "tok/s",
              "gdn", "gdn_core", "attn", "attn_core", "mlp", "other");

  std::vector<float> logits(size_t(cfg.vocab_size));
  const int n_full = cfg.n_attention_layers(), n_gdn = cfg.n_layers - n_full;
  for (int64_t n : lengths) {
    std::vector<int32_t> tokens(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      tokens[size_t(i)] = int32_t(splitmix(uint64_t(i)) % uint64_t(vocab));
    for (int r = 0; r < repeat; ++r) {
      auto state = model->new_state(n);
      model->reset_stats();
      spf::Stopwatch sw;
      model->forward(tokens, *state, spf::dense_attention_backend(), spf::LogitsMode::last, logits);
      const double t = sw.seconds();
      const spf::ForwardStats s = model->stats();
      const double gdn = s.mixer(spf::MixerKind::gated_deltanet);
      const double attn = s.mixer(spf::MixerKind::attention);
      std::printf("%7lld %9.2f %9.1f | %8.2f %8.2f | %8.2f %8.2f | %8.2f %8.2f\n", (long long)n, t,
                  double(n) / t, gdn, s.core(spf::MixerKind::gated_deltanet), attn,
                  s.core(spf::MixerKind::attention), s.mlp_s, s.other_s);
      std::printf("        per layer: gdn %.3f s (%d layers), full attention %.3f s (%d layers)\n",
                  gdn / n_gdn, n_gdn, attn / n_full, n_full);
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const spf::Error& e) {
    std::fprintf(stderr, "qwen35_bench: error: %s\n", e.what());
    return 1;
  }
}
