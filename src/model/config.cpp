#include "model/config.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/json_text.h"

namespace spf {

const char* arch_name(Arch a) {
  switch (a) {
    case Arch::llama:
      return "llama";
    case Arch::qwen2:
      return "qwen2";
    case Arch::qwen3:
      return "qwen3";
    case Arch::qwen35:
      return "qwen3_5";
  }
  return "?";
}

const char* layer_type_name(LayerType t) {
  return t == LayerType::full_attention ? "full_attention" : "linear_attention";
}

int ModelConfig::n_attention_layers() const {
  int n = 0;
  for (LayerType t : layer_types) n += t == LayerType::full_attention;
  return n;
}

void ModelConfig::validate() const {
  const char* a = arch_name(arch);
  SPF_CHECK(
      vocab_size > 0 && hidden > 0 && intermediate > 0 && n_layers > 0, a,
      " config: vocab_size, hidden_size, intermediate_size and num_hidden_layers must be positive");
  SPF_CHECK(n_heads > 0 && n_kv_heads > 0, a, " config: head counts must be positive (heads ",
            n_heads, ", kv heads ", n_kv_heads, ")");
  SPF_CHECK(n_heads % n_kv_heads == 0, a, " config: num_attention_heads ", n_heads,
            " is not a multiple of num_key_value_heads ", n_kv_heads);
  SPF_CHECK(head_dim > 0 && head_dim % 2 == 0 && head_dim <= 1024, a, " config: bad head_dim ",
            head_dim);
  SPF_CHECK(rope.rotary_dim > 0 && rope.rotary_dim % 2 == 0 && rope.rotary_dim <= head_dim, a,
            " config: rotary dimension ", rope.rotary_dim, " must be even and within head_dim ",
            head_dim);
  SPF_CHECK(int(layer_types.size()) == n_layers, a, " config: layer_types has ", layer_types.size(),
            " entries for ", n_layers, " layers");
  SPF_CHECK(rms_eps > 0, a, " config: rms_norm_eps must be positive");
  SPF_CHECK(max_context > 0, a, " config: context length ", max_context, " must be positive");
  check_dims_bounded(*this, a);
  bool any_linear = false;
  for (LayerType t : layer_types) any_linear |= t == LayerType::linear_attention;
  if (any_linear) {
    SPF_CHECK(arch == Arch::qwen35, a,
              " config: linear_attention layers need a Qwen3.5 architecture");
    SPF_CHECK(
        lin_k_heads > 0 && lin_v_heads > 0 && lin_k_dim > 0 && lin_v_dim > 0 && conv_kernel > 0, a,
        " config: linear attention needs positive linear_num_key_heads, linear_num_value_heads, "
        "linear_key_head_dim, linear_value_head_dim and linear_conv_kernel_dim");
    SPF_CHECK(lin_v_heads % lin_k_heads == 0, a, " config: linear_num_value_heads ", lin_v_heads,
              " is not a multiple of linear_num_key_heads ", lin_k_heads);
  }
}

namespace {

using nlohmann::json;

}  // namespace

// Far above any real checkpoint (405B-class models: 126 layers, hidden 16384, FFN 53248, vocab
// 256K), far below sizes whose tables alone would exhaust memory before any weight is read.
void check_dims_bounded(const ModelConfig& c, const std::string& where) {
  auto at_most = [&](const char* what, int64_t v, int64_t hi) {
    SPF_CHECK(v <= hi, where, ": ", what, " = ", v, " is beyond the supported maximum ", hi);
  };
  at_most("num_hidden_layers", c.n_layers, 4096);
  at_most("hidden_size", c.hidden, 1 << 17);
  at_most("intermediate_size", c.intermediate, 1 << 20);
  at_most("num_attention_heads", c.n_heads, 4096);
  at_most("vocab_size", c.vocab_size, 1 << 24);
}

namespace {

// An int-sized integer: a value that would wrap or truncate (4294967297 layers) is an error, not a
// different number.
int get_int(const json& j, const char* key, const std::string& where) {
  SPF_CHECK(j.contains(key), where, ": missing \"", key, "\"");
  const json& v = j[key];
  SPF_CHECK(v.is_number_integer(), where, ": \"", key, "\" must be an integer");
  const bool fits = v.is_number_unsigned()
                        ? v.get<uint64_t>() <= uint64_t(std::numeric_limits<int>::max())
                        : v.get<int64_t>() >= std::numeric_limits<int>::min() &&
                              v.get<int64_t>() <= std::numeric_limits<int>::max();
  SPF_CHECK(fits, where, ": \"", key, "\" = ", v.dump(), " is out of range");
  return v.get<int>();
}
int get_int_or(const json& j, const char* key, int dflt, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return dflt;
  return get_int(j, key, where);
}
double get_num_or(const json& j, const char* key, double dflt, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return dflt;
  SPF_CHECK(j[key].is_number(), where, ": \"", key, "\" must be a number");
  return j[key].get<double>();
}
bool get_bool_or(const json& j, const char* key, bool dflt, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return dflt;
  SPF_CHECK(j[key].is_boolean(), where, ": \"", key, "\" must be true or false");
  return j[key].get<bool>();
}

// A string field, `dflt` when absent or null (config.json writers emit null for unset keys).
std::string get_string_or(const json& j, const char* key, const std::string& dflt,
                          const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return dflt;
  SPF_CHECK(j[key].is_string(), where, ": \"", key, "\" must be a string");
  return j[key].get<std::string>();
}

void read_rope_scaling(const json& rs, RopeConfig& rope, const std::string& where) {
  if (rs.is_null()) return;
  SPF_CHECK(rs.is_object(), where, ": rope scaling must be an object");
  std::string type =
      get_string_or(rs, "rope_type", get_string_or(rs, "type", "default", where), where);
  SPF_CHECK(type == "default" || type == "linear" || type == "llama3", where,
            ": unsupported rope type '", type, "' (supported: default, linear, llama3)");
  rope.type = type;
  rope.factor = float(get_num_or(rs, "factor", 1.0, where));
  rope.low_freq_factor = float(get_num_or(rs, "low_freq_factor", 1.0, where));
  rope.high_freq_factor = float(get_num_or(rs, "high_freq_factor", 4.0, where));
  rope.original_max_position = get_int_or(rs, "original_max_position_embeddings", 8192, where);
}

}  // namespace

ModelConfig config_from_hf_json(const json& root, const std::string& where) {
  SPF_CHECK(root.is_object(), where, ": config must be a JSON object");
  ModelConfig c;
  std::string model_type = get_string_or(root, "model_type", "", where);
  if (root.contains("architectures") && root["architectures"].is_array() &&
      !root["architectures"].empty() && root["architectures"][0].is_string()) {
    c.hf_architecture = root["architectures"][0].get<std::string>();
  }
  // Composite checkpoints keep the language model's hyper-parameters in text_config.
  const json* jp = &root;
  if (model_type == "qwen3_5" || (root.contains("text_config") && root["text_config"].is_object() &&
                                  !root.contains("hidden_size"))) {
    SPF_CHECK(root.contains("text_config") && root["text_config"].is_object(), where,
              ": model_type ", model_type, " needs a text_config object");
    jp = &root["text_config"];
    c.weight_prefix = "model.language_model.";
    if (model_type == "qwen3_5")
      model_type = "qwen3_5_text";
    else
      model_type = get_string_or(*jp, "model_type", model_type, where);
  }
  const json& j = *jp;
  if (model_type == "llama" || model_type == "mistral")
    c.arch = Arch::llama;
  else if (model_type == "qwen2")
    c.arch = Arch::qwen2;
  else if (model_type == "qwen3")
    c.arch = Arch::qwen3;
  else if (model_type == "qwen3_5_text")
    c.arch = Arch::qwen35;
  else
    fail(where, ": unknown model_type '", model_type,
         "' (supported: llama, qwen2, qwen3, qwen3_5, qwen3_5_text)");

  c.vocab_size = get_int(j, "vocab_size", where);
  c.hidden = get_int(j, "hidden_size", where);
  c.intermediate = get_int(j, "intermediate_size", where);
  c.n_layers = get_int(j, "num_hidden_layers", where);
  c.n_heads = get_int(j, "num_attention_heads", where);
  SPF_CHECK(c.n_layers > 0, where, ": num_hidden_layers = ", c.n_layers, " must be positive");
  check_dims_bounded(c, where);
  c.n_kv_heads = get_int_or(j, "num_key_value_heads", c.n_heads, where);
  SPF_CHECK(c.n_heads > 0, where, ": num_attention_heads must be positive");
  c.head_dim = get_int_or(j, "head_dim", c.hidden / c.n_heads, where);
  c.rms_eps = float(get_num_or(j, "rms_norm_eps", 1e-6, where));
  c.max_context = get_int_or(j, "max_position_embeddings", 2048, where);
  // Composite models tie through the top-level config; text-only ones through their own.
  c.tie_embeddings = get_bool_or(j, "tie_word_embeddings", false, where);
  if (jp != &root)
    c.tie_embeddings = get_bool_or(root, "tie_word_embeddings", c.tie_embeddings, where);

  // RoPE: legacy keys (rope_theta, rope_scaling) or transformers v5 rope_parameters.
  const json* rp = j.contains("rope_parameters") && j["rope_parameters"].is_object()
                       ? &j["rope_parameters"]
                       : nullptr;
  double theta = get_num_or(j, "rope_theta", c.arch == Arch::qwen35 ? 10000000.0 : 10000.0, where);
  double partial =
      get_num_or(j, "partial_rotary_factor", c.arch == Arch::qwen35 ? 0.25 : 1.0, where);
  if (rp != nullptr) {
    theta = get_num_or(*rp, "rope_theta", theta, where);
    partial = get_num_or(*rp, "partial_rotary_factor", partial, where);
    read_rope_scaling(*rp, c.rope, where);
  }
  if (j.contains("rope_scaling")) read_rope_scaling(j["rope_scaling"], c.rope, where);
  c.rope.theta = float(theta);
  SPF_CHECK(partial > 0 && partial <= 1, where, ": partial_rotary_factor must be in (0, 1]");
  c.rope.rotary_dim = int(c.head_dim * partial);

  switch (c.arch) {
    case Arch::llama:
      c.qkv_bias = c.o_bias = get_bool_or(j, "attention_bias", false, where);
      SPF_CHECK(!get_bool_or(j, "mlp_bias", false, where), where, ": mlp_bias is not supported");
      break;
    case Arch::qwen2:
      c.qkv_bias = true;
      break;
    case Arch::qwen3:
      c.qk_norm = true;
      break;
    case Arch::qwen35:
      c.qkv_bias = c.o_bias = get_bool_or(j, "attention_bias", false, where);
      c.qk_norm = true;
      c.norm_plus_one = true;
      c.attn_output_gate = true;
      c.lin_k_heads = get_int_or(j, "linear_num_key_heads", 16, where);
      c.lin_v_heads = get_int_or(j, "linear_num_value_heads", 32, where);
      c.lin_k_dim = get_int_or(j, "linear_key_head_dim", 128, where);
      c.lin_v_dim = get_int_or(j, "linear_value_head_dim", 128, where);
      c.conv_kernel = get_int_or(j, "linear_conv_kernel_dim", 4, where);
      break;
  }
  if (c.arch == Arch::qwen2 || c.arch == Arch::qwen3) {
    SPF_CHECK(!get_bool_or(j, "use_sliding_window", false, where), where,
              ": sliding-window attention (use_sliding_window) is not supported");
  }

  // Layer schedule.
  c.layer_types.assign(size_t(c.n_layers), LayerType::full_attention);
  if (c.arch == Arch::qwen35) {
    if (j.contains("layer_types") && !j["layer_types"].is_null()) {
      const json& lt = j["layer_types"];
      SPF_CHECK(lt.is_array() && int(lt.size()) == c.n_layers, where, ": layer_types must list ",
                c.n_layers, " layer types");
      for (size_t i = 0; i < lt.size(); ++i) {
        SPF_CHECK(lt[i].is_string(), where, ": layer_types[", i, "] must be a string");
        const std::string s = lt[i].get<std::string>();
        if (s == "full_attention")
          c.layer_types[i] = LayerType::full_attention;
        else if (s == "linear_attention")
          c.layer_types[i] = LayerType::linear_attention;
        else
          fail(where, ": unknown layer type '", s, "' at layer_types[", i,
               "] (expected full_attention or linear_attention)");
      }
    } else {
      const int interval = get_int_or(j, "full_attention_interval", 4, where);
      SPF_CHECK(interval > 0, where, ": full_attention_interval must be positive");
      for (int i = 0; i < c.n_layers; ++i)
        c.layer_types[size_t(i)] =
            (i + 1) % interval == 0 ? LayerType::full_attention : LayerType::linear_attention;
    }
  }
  c.validate();
  return c;
}

ModelConfig config_from_hf_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  SPF_CHECK(in.good(), path, ": cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  const json root = parse_json_text<json>(text.str(), path);
  try {
    return config_from_hf_json(root, path);
  } catch (const json::exception& e) {
    // A field of an unexpected JSON type that no check above names: still one line, no abort.
    fail(path, ": unexpected value in config.json (", e.what(), ")");
  }
}

ModelConfig config_from_gguf(const GgufFile& g) {
  const std::string arch = g.get_string("general.architecture");
  ModelConfig c;
  if (arch == "llama")
    c.arch = Arch::llama;
  else if (arch == "qwen2")
    c.arch = Arch::qwen2;
  else if (arch == "qwen3")
    c.arch = Arch::qwen3;
  else
    fail(g.path(), ": unsupported GGUF architecture '", arch, "' (supported: llama, qwen2, qwen3)");
  const std::string p = arch + ".";
  c.hf_architecture = arch + " (GGUF)";
  // GGUF integers are 64-bit; a count that does not fit an int is an error, not a truncation.
  auto small = [&](const std::string& key, int64_t v) {
    SPF_CHECK(v >= std::numeric_limits<int>::min() && v <= std::numeric_limits<int>::max(),
              g.path(), ": ", key, " = ", v, " is out of range");
    return int(v);
  };
  auto req = [&](const std::string& key) { return small(key, g.get_int(p + key)); };
  auto opt = [&](const std::string& key, int dflt) {
    const auto v = g.get_int_opt(p + key);
    return v ? small(key, *v) : dflt;
  };
  c.hidden = req("embedding_length");
  c.n_layers = req("block_count");
  SPF_CHECK(c.n_layers > 0, g.path(), ": block_count = ", c.n_layers, " must be positive");
  c.intermediate = req("feed_forward_length");
  c.n_heads = req("attention.head_count");
  c.n_kv_heads = opt("attention.head_count_kv", c.n_heads);
  SPF_CHECK(c.n_heads > 0, g.path(), ": attention.head_count must be positive");
  c.head_dim = opt("attention.key_length", c.hidden / c.n_heads);
  c.rms_eps = float(g.get_float(p + "attention.layer_norm_rms_epsilon"));
  c.max_context = g.get_int_opt(p + "context_length").value_or(2048);
  c.rope.theta = float(g.get_float_opt(p + "rope.freq_base").value_or(10000.0));
  c.rope.rotary_dim = opt("rope.dimension_count", c.head_dim);
  if (auto t = g.get_string_opt(p + "rope.scaling.type"); t && *t != "none") {
    SPF_CHECK(*t == "linear", g.path(), ": unsupported GGUF rope scaling '", *t, "'");
    c.rope.type = "linear";
    c.rope.factor = float(g.get_float(p + "rope.scaling.factor"));
  }
  SPF_CHECK(!g.has("rope_freqs.weight"), g.path(),
            ": llama3 rope_freqs scaling in GGUF is not supported yet");
  if (auto v = g.get_int_opt(p + "vocab_size"))
    c.vocab_size = small("vocab_size", *v);
  else {
    const auto& embd = g.info("token_embd.weight").shape;
    SPF_CHECK(!embd.empty(), g.path(), ": token_embd.weight has no dimensions");
    c.vocab_size = small("token_embd rows", embd[0]);
  }
  c.tie_embeddings = !g.has("output.weight");
  c.qkv_bias = g.has("blk.0.attn_q.bias");
  c.o_bias = g.has("blk.0.attn_output.bias");
  c.qk_norm = g.has("blk.0.attn_q_norm.weight");
  check_dims_bounded(c, g.path());
  c.layer_types.assign(size_t(c.n_layers), LayerType::full_attention);
  c.weight_prefix = "";
  c.validate();
  return c;
}

}  // namespace spf
