// spf info: what a checkpoint is — architecture, shapes, layer schedule, tensor dtypes, metadata.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>

#include "cli/common.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "model/config.h"

namespace spf::cli {

namespace {

struct InfoOptions {
  std::string path;
  bool tensors = false;
};

void print_config(const ModelConfig& c) {
  std::printf("architecture      %s (%s)\n", arch_name(c.arch), c.hf_architecture.c_str());
  std::printf("layers            %d\n", c.n_layers);
  std::printf("hidden            %d\n", c.hidden);
  std::printf("intermediate      %d\n", c.intermediate);
  std::printf("vocab             %d\n", c.vocab_size);
  std::printf("attention heads   %d query / %d key-value (GQA group %d), head_dim %d\n", c.n_heads,
              c.n_kv_heads, c.n_heads / c.n_kv_heads, c.head_dim);
  std::printf("rope              theta %g, rotary dims %d of %d, scaling %s\n",
              double(c.rope.theta), c.rope.rotary_dim, c.head_dim, c.rope.type.c_str());
  std::printf("context           %lld tokens\n", (long long)c.max_context);
  std::printf("rms_norm_eps      %g%s\n", double(c.rms_eps),
              c.norm_plus_one ? " (weights as 1 + w)" : "");
  std::printf("embeddings        %s\n", c.tie_embeddings ? "tied" : "untied");
  std::printf("extras            %s%s%s%s\n", c.qkv_bias ? "qkv-bias " : "",
              c.qk_norm ? "qk-norm " : "", c.attn_output_gate ? "attention-output-gate " : "",
              (!c.qkv_bias && !c.qk_norm && !c.attn_output_gate) ? "none" : "");
  std::string full, linear;
  for (int i = 0; i < c.n_layers; ++i) {
    std::string& s = c.layer_types[size_t(i)] == LayerType::full_attention ? full : linear;
    s += cat(s.empty() ? "" : ",", i);
  }
  std::printf("full attention    %d layers: [%s]\n", c.n_attention_layers(), full.c_str());
  if (!linear.empty()) {
    std::printf("linear attention  %d layers (Gated DeltaNet): [%s]\n",
                c.n_layers - c.n_attention_layers(), linear.c_str());
    std::printf("gated deltanet    %d key heads x %d, %d value heads x %d, conv kernel %d\n",
                c.lin_k_heads, c.lin_k_dim, c.lin_v_heads, c.lin_v_dim, c.conv_kernel);
  }
}

void print_tensors(const TensorSource& src, bool all) {
  std::map<std::string, int> by_type;
  int64_t params = 0;
  for (const std::string& n : src.names()) {
    const TensorInfo& t = src.info(n);
    ++by_type[t.ggml_type_name.empty() ? dtype_name(t.dtype) : t.ggml_type_name];
    params += t.numel();
  }
  std::printf("tensors           %zu, %lld parameters; by type:", src.names().size(),
              (long long)params);
  for (const auto& [t, n] : by_type) std::printf(" %s=%d", t.c_str(), n);
  std::printf("\n");
  if (!all) return;
  for (const std::string& n : src.names()) {
    const TensorInfo& t = src.info(n);
    std::string shape;
    for (size_t i = 0; i < t.shape.size(); ++i) shape += cat(i ? ", " : "", t.shape[i]);
    std::printf("  %-56s %-6s [%s]\n", n.c_str(),
                t.ggml_type_name.empty() ? dtype_name(t.dtype) : t.ggml_type_name.c_str(),
                shape.c_str());
  }
}

std::string summarize(const GgufValue& v) {
  switch (v.type) {
    case GgufType::string:
      return v.s.size() > 80 ? cat('"', v.s.substr(0, 77), "...\" (", v.s.size(), " bytes)")
                             : cat('"', v.s, '"');
    case GgufType::f32:
    case GgufType::f64:
      return cat(v.f);
    case GgufType::bool_:
      return v.i ? "true" : "false";
    case GgufType::array:
      return cat("array of ", v.array_size());
    case GgufType::u64:
      return cat(v.u);
    default:
      return cat(v.i);
  }
}

void run_info(const InfoOptions& o) {
  namespace fs = std::filesystem;
  SPF_CHECK(fs::exists(o.path), o.path, ": no such file or directory");
  if (fs::is_regular_file(o.path) && o.path.size() > 5 &&
      o.path.substr(o.path.size() - 5) == ".gguf") {
    GgufFile g(o.path);
    std::printf("file              %s (GGUF v%u, alignment %zu)\n", o.path.c_str(), g.version(),
                g.alignment());
    print_config(config_from_gguf(g));
    print_tensors(g, o.tensors);
    std::printf("metadata          %zu keys\n", g.metadata().size());
    for (const auto& [k, v] : g.metadata())
      std::printf("  %-44s %s\n", k.c_str(), summarize(v).c_str());
    return;
  }
  const fs::path dir = fs::is_directory(o.path) ? fs::path(o.path) : fs::path(o.path).parent_path();
  std::printf("checkpoint        %s (HF safetensors)\n", dir.string().c_str());
  print_config(config_from_hf_file((dir / "config.json").string()));
  auto src = open_safetensors_checkpoint(dir.string());
  print_tensors(*src, o.tensors);
}

}  // namespace

void add_info(CLI::App& app) {
  auto o = std::make_shared<InfoOptions>();
  CLI::App* sub = app.add_subcommand(
      "info", "Describe a checkpoint: architecture, shapes, layers, dtypes, metadata");
  sub->add_option("path", o->path, "GGUF file or HF checkpoint directory")->required();
  sub->add_flag("--tensors", o->tensors, "List every tensor");
  sub->callback([o] { run_info(*o); });
}

}  // namespace spf::cli
