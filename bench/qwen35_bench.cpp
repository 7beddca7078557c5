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
#include "core/splitmix.h"
#include "core/threads.h"
#include "core/timer.h"
#include "model/config.h"
#include "model/model.h"
#include "model/random_checkpoint.h"

namespace {

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
  const spf::RandomCheckpoint src(cfg, 1);
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
      tokens[size_t(i)] = int32_t(spf::splitmix64(uint64_t(i)) % uint64_t(vocab));
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
