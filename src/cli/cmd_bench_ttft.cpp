// spf bench ttft: time to first token of a long prompt on the GPU, end to end — token ids on the
// host to the last position's logits on the host (the prefill forward; weights uploaded and the
// state allocated beforehand, as a serving engine holds them) — for dense attention with the
// project's kernel and for sparse prefill: the indexer (a trained file, or random-init for the
// runtime headroom, as the paper's 3.44x row) at fixed budgets, and the oracle (to show its cost:
// its statistics run on the host). Real-size shapes come with random weights made on the device
// (--shape qwen3.5-9b | qwen3.5-0.8b); --model runs a checkpoint instead.
//
// Each (length, method) runs --repeats times (the median is reported) after one warm-up at the
// first length, then once more with a synchronised breakdown by part: GEMMs, Gated DeltaNet,
// attention (the executor's part), indexer scoring + top-k, the rest. Output: a table on stdout,
// --json (every run) and --markdown. Peers (FlashAttention-2 / cuDNN through torch) are timed by
// tools/bench_ttft_peers.py in the same run; tools/ttft_report.py combines them.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli/common.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/timer.h"
#include "model/config.h"
#include "model/model.h"
#include "support/budget.h"
#include "support/layer_selection.h"
#if SPF_HAVE_CUDA
#include "attention/cuda/cuda_executor.h"
#include "indexer/checkpoint.h"
#include "indexer/cuda/cuda_indexer_backend.h"
#include "indexer/cuda/sparse_cost_model.h"
#include "indexer/indexer_model.h"
#include "model/cuda/cuda_decoder.h"
#include "support/producer.h"
#include "support/support_attention.h"
#endif

namespace spf::cli {

namespace {

struct TtftOptions {
  std::string shape = "qwen3.5-9b", model, lengths = "8192,16384,32768,65536,131072";
  std::string methods = "dense,indexer:2048,indexer:3%,indexer:5%,auto:2048";
  std::string indexer;  // file; empty: random-init
  std::string sparse_layers = "all";
  int repeats = 3;
  int64_t prefill_chunk = 0;
  int64_t oracle_max = 16384;
  int q_block = 64;
  std::string cost_model;  // "": $HOME/.cache/spf/sparse-cost.json
  std::string attention_kernel = "auto";
  std::string gemm_tuning = "measured";
  std::string json_out, markdown_out;
  bool breakdown = true;
};

#if SPF_HAVE_CUDA

std::vector<int64_t> parse_lengths(const std::string& s) {
  std::vector<int64_t> v;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const long long x = std::strtoll(item.c_str(), &end, 10);
    SPF_CHECK(!item.empty() && *end == '\0' && x > 0, "--lengths: bad length '", item, "'");
    v.push_back(x);
  }
  SPF_CHECK(!v.empty(), "--lengths: no lengths");
  return v;
}

// Qwen3.5 text configs of the published geometries (model-specs: hidden, layers, heads), with the
// context raised to 1M positions so that the long rows fit (RoPE is defined at any position).
nlohmann::json qwen35_shape(const std::string& name) {
  const bool big = name == "qwen3.5-9b";
  SPF_CHECK(big || name == "qwen3.5-0.8b", "--shape ", name,
            ": expected qwen3.5-9b or qwen3.5-0.8b (or give --model)");
  return {{"architectures", {"Qwen3_5ForCausalLM"}},
          {"model_type", "qwen3_5_text"},
          {"vocab_size", 248320},
          {"hidden_size", big ? 4096 : 1024},
          {"intermediate_size", big ? 12288 : 3584},
          {"num_hidden_layers", big ? 32 : 24},
          {"num_attention_heads", big ? 16 : 8},
          {"num_key_value_heads", big ? 4 : 2},
          {"head_dim", 256},
          {"linear_num_key_heads", 16},
          {"linear_num_value_heads", big ? 32 : 16},
          {"linear_key_head_dim", 128},
          {"linear_value_head_dim", 128},
          {"linear_conv_kernel_dim", 4},
          {"full_attention_interval", 4},
          {"rms_norm_eps", 1e-6},
          {"tie_word_embeddings", !big},
          {"max_position_embeddings", 1 << 20},
          {"rope_parameters",
           {{"rope_type", "default"}, {"rope_theta", 1e7}, {"partial_rotary_factor", 0.25}}}};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// One method's backend over the GPU executor; indexer_s() is the indexer's share of the last run.
struct MethodBackend {
  std::string method;
  std::unique_ptr<AttentionBackend> owned;
  CudaIndexerBackend* indexer = nullptr;
  AttentionBackend* backend = nullptr;
  int64_t dense_below = -1;  // the cost model's threshold (auto:*), -1 without

  void clear_timings() {
    if (indexer == nullptr) return;
    (void)indexer->take_timings();
    (void)indexer->take_topk_path_rows();
  }
  // Seconds of the calls since the last take (all 0 without an indexer): the indexer's part, the
  // scoring + top-k kernel within it, and the attention kernel's events.
  struct Split {
    double indexer = 0, topk = 0, attention = 0;
    TopKPathRows topk_rows;  // top-k rows on the 4-pass and the sampled paths
  };
  Split take_split() {
    Split s;
    if (indexer == nullptr) return s;
    for (const IndexerCallTiming& t : indexer->take_timings()) {
      s.indexer += t.indexer_ms * 1e-3;
      s.topk += t.topk_ms * 1e-3;
      s.attention += t.attention_ms * 1e-3;
    }
    s.topk_rows = indexer->take_topk_path_rows();
    return s;
  }
};

std::string cost_model_path(const std::string& given) {
  if (!given.empty()) return given;
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : ".") + "/.cache/spf/sparse-cost.json";
}

MethodBackend make_method(const std::string& method, const TtftOptions& o, const ModelConfig& cfg,
                          bool timing) {
  MethodBackend m;
  m.method = method;
  // NAME[:BUDGET]: dense, indexer (the --indexer file, else random-init) or any method spec name.
  const size_t colon = method.find(':');
  const std::string name = method.substr(0, colon);
  const std::string arg = colon == std::string::npos ? "" : method.substr(colon + 1);
  if (name == "dense") {
    m.backend = &dense_attention_backend(Device::cuda);
    return m;
  }
  if (name == "indexer" || name == "auto") {
    SPF_CHECK(!arg.empty(), "--methods ", method,
              ": give the budget, e.g. indexer:2048 or indexer:5%");
    IndexerWeights w;
    if (o.indexer.empty()) {
      w = random_indexer(indexer_config_for(cfg, 64, 32, 1, false), 1);
    } else {
      w = load_indexer(o.indexer).weights;
    }
    CudaIndexerOptions io;
    io.budget = parse_budget(arg);
    io.sparse_layers = LayerSelection::parse(o.sparse_layers);
    io.timing = timing;
    io.q_block = o.q_block;
    if (name == "auto") {
      // The measured dense fallback: calibrated once per GPU, shape and budget, then stored.
      const std::string path = cost_model_path(o.cost_model);
      SparseCostModel cm = SparseCostModel::load(path);
      const SparseCostKey key =
          sparse_cost_key(w.config, io, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim);
      std::optional<SparseCostEntry> e = cm.find(key);
      if (!e) {
        std::fprintf(stderr, "[spf] calibrating the sparse cost model for %s ...\n",
                     key.str().c_str());
        e = calibrate_sparse_cost(w, io, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim,
                                  {2048, 4096, 8192, 16384, 32768, 65536, 131072});
        cm.set(key, *e);
        std::filesystem::create_directories(std::filesystem::path(path).parent_path());
        cm.save(path);
      }
      io.dense_below = e->dense_below;
      m.dense_below = e->dense_below;
    }
    auto b = std::make_unique<CudaIndexerBackend>(w, io);
    m.indexer = b.get();
    m.backend = b.get();
    m.owned = std::move(b);
    return m;
  }
  // Any other method spec (oracle, baselines): its host producer over the CUDA executor.
  SupportAttentionOptions ao;
  ao.sparse_layers = LayerSelection::parse(o.sparse_layers).mask(cfg.n_attention_layers());
  auto b = std::make_unique<SupportAttention>(
      make_producer(parse_method_spec(method.substr(0, method.find(':'))),
                    parse_budget(arg.empty() ? "5%" : arg)),
      cuda_executor(), ao);
  m.backend = b.get();
  m.owned = std::move(b);
  return m;
}

void run_ttft(const TtftOptions& o) {
  const std::vector<int64_t> lengths = parse_lengths(o.lengths);
  const std::vector<std::string> methods = split_list(o.methods);
  SPF_CHECK(!methods.empty(), "--methods: no methods");
  for (const std::string& m : methods) {
    const std::string name = m.substr(0, m.find(':'));
    // A typo fails before the weights are built.
    if (name != "dense" && name != "indexer" && name != "auto") (void)parse_method_spec(name);
    if (m.find(':') != std::string::npos) (void)parse_budget(m.substr(m.find(':') + 1));
  }
  if (!o.json_out.empty()) check_output_path(o.json_out, "--json");
  if (!o.markdown_out.empty()) check_output_path(o.markdown_out, "--markdown");
  const CudaAttentionKernel kernel = parse_cuda_attention_kernel(o.attention_kernel);
  // Bad input is named as such, also on a machine without a GPU.
  if (o.model.empty()) (void)qwen35_shape(o.shape);
  (void)LayerSelection::parse(o.sparse_layers);
  if (!o.indexer.empty()) (void)load_indexer(o.indexer);
  SPF_CHECK(cuda_device_present(), "spf bench ttft: no CUDA device is visible");
  CudaExecutorOptions eo = cuda_executor().options();
  eo.kernel = kernel;
  cuda_executor().set_options(eo);
  install_cuda_models();

  std::unique_ptr<CudaModel> model;
  std::string model_name;
  Stopwatch load;
  if (o.model.empty()) {
    const ModelConfig cfg = config_from_hf_json(qwen35_shape(o.shape), o.shape);
    model = make_random_cuda_model(cfg, 1);
    model_name = o.shape + " (random weights)";
  } else {
    LoadOptions lo;
    lo.device = Device::cuda;
    auto m = load_model(resolve_model(o.model), lo);
    model.reset(dynamic_cast<CudaModel*>(m.release()));
    SPF_CHECK(model != nullptr, "--model: the CUDA model factory returned another model type");
    model_name = resolve_model(o.model);
  }
  model->set_gemm_autotune(o.gemm_tuning == "measured");
  const ModelConfig& cfg = model->config();
  const int64_t longest = *std::max_element(lengths.begin(), lengths.end());
  SPF_CHECK(longest <= cfg.max_context, "--lengths: ", longest, " exceeds the model's context of ",
            cfg.max_context);
  std::fprintf(stderr, "[spf] %s on %s: weights %.2f GB in %.1f s\n", model_name.c_str(),
               cuda_device_name().c_str(), double(model->weight_bytes()) * 1e-9, load.seconds());

  nlohmann::json rows = nlohmann::json::array();
  std::vector<float> logits(size_t(cfg.vocab_size));
  ForwardOptions fo;
  fo.mode = LogitsMode::last;
  fo.prefill_chunk = o.prefill_chunk;
  bool warmed = false;
  std::printf("%-8s %-16s %10s %9s %9s %9s %9s %9s %9s %8s\n", "tokens", "method", "ttft_ms",
              "gemm", "gdn", "attn", "indexer", "other", "vs_dense", "mem_GB");
  for (const int64_t n : lengths) {
    uint64_t seed = 0x5eed;
    const std::vector<int32_t> ids = synthetic_ids(n, cfg.vocab_size, seed);
    double dense_ms = 0;
    for (const std::string& method : methods) {
      if (method.rfind("oracle", 0) == 0 && n > o.oracle_max) continue;
      MethodBackend mb = make_method(method, o, cfg, true);
      std::unique_ptr<ModelState> state;
      auto run_once = [&] {
        state.reset();  // free the last run's caches before the next ones are made
        state = model->new_state(n);
        cuda_synchronize();
        Stopwatch sw;
        model->forward(ids, *state, *mb.backend, logits, fo);
        return sw.seconds();
      };
      if (!warmed) {
        (void)run_once();
        warmed = true;
      }
      std::vector<double> times;
      for (int r = 0; r < o.repeats; ++r) times.push_back(run_once());
      mb.clear_timings();
      const double ttft = median(times);
      nlohmann::json row = {{"tokens", n}, {"method", method}, {"ttft_s", ttft}, {"runs_s", times}};
      double parts[5] = {0, 0, 0, 0, 0};
      if (o.breakdown) {
        model->set_time_parts(true);
        model->reset_breakdown();
        (void)run_once();
        model->set_time_parts(false);
        const CudaBreakdown b = model->breakdown();
        const MethodBackend::Split split = mb.take_split();
        const double idx = split.indexer;
        // The backend's time splits into the indexer's part and the attention kernel's.
        const double attention = mb.indexer != nullptr ? b.attention_s - idx : b.attention_s;
        parts[0] = b.gemm_s;
        parts[1] = b.gdn_s;
        parts[2] = attention;
        parts[3] = mb.indexer != nullptr ? idx : 0.0;
        parts[4] = b.other_s;
        row["breakdown_s"] = {
            {"gemm", parts[0]},           {"gdn", parts[1]},
            {"attention", parts[2]},      {"indexer", parts[3]},
            {"other", parts[4]},          {"total", b.total_s()},
            {"indexer_topk", split.topk}, {"attention_kernel_events", split.attention}};
        if (mb.indexer != nullptr) {
          row["indexer_topk_fallback_rows"] = split.topk_rows.four_pass;
          row["indexer_topk_sampled_rows"] = split.topk_rows.sampled;
        }
      }
      const double mem = double(cuda_memory_in_use());
      row["device_memory_bytes"] = mem;
      if (method == "dense") dense_ms = ttft * 1e3;
      if (mb.dense_below >= 0) row["dense_below"] = mb.dense_below;
      row["speedup_vs_dense"] = dense_ms > 0 ? dense_ms / (ttft * 1e3) : 0.0;
      std::printf("%-8lld %-16s %10.1f %9.1f %9.1f %9.1f %9.1f %9.1f %9.2f %8.1f\n", (long long)n,
                  method.c_str(), ttft * 1e3, parts[0] * 1e3, parts[1] * 1e3, parts[2] * 1e3,
                  parts[3] * 1e3, parts[4] * 1e3, dense_ms > 0 ? dense_ms / (ttft * 1e3) : 0.0,
                  mem * 1e-9);
      std::fflush(stdout);
      rows.push_back(row);
    }
  }

  const std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d", std::gmtime(&now));
  const std::pair<int64_t, int64_t> tuned = model->gemm_tuning_counts();
  nlohmann::json out = {{"benchmark", "ttft"},
                        {"model", model_name},
                        {"device", cuda_device_name()},
                        {"date", date},
                        {"repeats", o.repeats},
                        {"prefill_chunk", o.prefill_chunk},
                        {"sparse_layers", o.sparse_layers},
                        {"indexer", o.indexer.empty() ? "random-init" : o.indexer},
                        {"q_block", o.q_block},
                        {"attention_kernel", kernel_name(cuda_executor().kernel_for(cfg.head_dim))},
                        {"gemm_tuning", o.gemm_tuning},
                        {"gemm_shapes_measured", tuned.first},
                        {"gemm_shapes_changed", tuned.second},
                        {"weight_bytes", model->weight_bytes()},
                        {"layers", cfg.n_layers},
                        {"attention_layers", cfg.n_attention_layers()},
                        {"rows", rows}};
  if (!o.json_out.empty()) write_file_atomic(o.json_out, out.dump(1) + "\n");
  if (!o.markdown_out.empty()) {
    std::string md =
        "| tokens | method | TTFT ms | vs dense | GEMM | GDN | attention | indexer | "
        "other | device GB |\n|---|---|---|---|---|---|---|---|---|---|\n";
    char line[512];
    for (const auto& r : rows) {
      const auto& b = r.contains("breakdown_s") ? r["breakdown_s"] : nlohmann::json::object();
      auto ms = [&](const char* k) { return b.contains(k) ? b[k].get<double>() * 1e3 : 0.0; };
      std::snprintf(line, sizeof line,
                    "| %lld | %s | %.1f | %.2f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n",
                    (long long)r["tokens"].get<int64_t>(), r["method"].get<std::string>().c_str(),
                    r["ttft_s"].get<double>() * 1e3, r["speedup_vs_dense"].get<double>(),
                    ms("gemm"), ms("gdn"), ms("attention"), ms("indexer"), ms("other"),
                    r["device_memory_bytes"].get<double>() * 1e-9);
      md += line;
    }
    write_file_atomic(o.markdown_out, md);
  }
}

#else

void run_ttft(const TtftOptions&) {
  throw Error("spf bench ttft needs a CUDA build (this one was built without nvcc)");
}

#endif

}  // namespace

void add_bench_ttft(CLI::App& bench) {
  auto o = std::make_shared<TtftOptions>();
  CLI::App* sub = bench.add_subcommand(
      "ttft", "GPU time to first token: dense vs sparse prefill, with a breakdown by part");
  sub->add_option("--shape", o->shape, "Random-weight model geometry: qwen3.5-9b or qwen3.5-0.8b")
      ->capture_default_str();
  sub->add_option("-m,--model", o->model, "A checkpoint instead of --shape");
  sub->add_option("--lengths", o->lengths, "Prompt lengths in tokens")->capture_default_str();
  sub->add_option("--methods", o->methods,
                  "dense, indexer:BUDGET (2048 keys, 5%), auto:BUDGET (the indexer with the "
                  "measured dense fallback), oracle:BUDGET, ... (comma list)")
      ->capture_default_str();
  sub->add_option("--indexer", o->indexer, "Indexer file for indexer:* (default: random-init)");
  sub->add_option("--sparse-layers", o->sparse_layers, "Attention layers that run sparse")
      ->capture_default_str();
  sub->add_option("--repeats", o->repeats, "Timed runs per cell (median reported)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  sub->add_option("--prefill-chunk", o->prefill_chunk,
                  "Prefill in chunks of N tokens (0: one shot)")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 30))
      ->capture_default_str();
  sub->add_option("--oracle-max", o->oracle_max,
                  "Longest prompt the oracle runs at (its statistics run on the host)")
      ->capture_default_str();
  sub->add_option("--q-block", o->q_block,
                  "Queries sharing one indexer key list (1: per query; 64: the GPU's tile)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  sub->add_option("--cost-model", o->cost_model,
                  "Sparse cost model file for auto:* (default ~/.cache/spf/sparse-cost.json; "
                  "calibrated and stored when a key is missing)");
  sub->add_option("--attention-kernel", o->attention_kernel,
                  "Flash kernel of every attention call: auto (wgmma on Hopper), mma, wgmma")
      ->check(CLI::IsMember({"auto", "mma", "wgmma"}))
      ->capture_default_str();
  sub->add_option("--gemm-tuning", o->gemm_tuning,
                  "cuBLASLt algorithm per GEMM shape: measured (the fastest of the heuristic's "
                  "first 8, timed on the first run) or heuristic (its first choice)")
      ->check(CLI::IsMember({"measured", "heuristic"}))
      ->capture_default_str();
  sub->add_flag("!--no-breakdown", o->breakdown, "Skip the synchronised per-part run");
  sub->add_option("--json", o->json_out, "Write every run as JSON");
  sub->add_option("--markdown", o->markdown_out, "Write the table as Markdown");
  sub->callback([o] { run_ttft(*o); });
}

}  // namespace spf::cli
