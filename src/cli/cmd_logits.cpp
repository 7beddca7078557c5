// spf logits: float32 .npy [n_tokens, vocab] of a model's logits for given token ids (parity
// checks), with dense attention or a support method (--method SPEC --budget B). --dump DIR also
// writes the named per-layer intermediates (model/trace.h) of the layers in --dump-layers as
// DIR/L<layer>.<name>.npy; --prefill-chunk runs the ids in chunks.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "attention/executor.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/npy.h"
#include "model/model.h"
#include "model/trace.h"
#include "support/device_backend.h"
#include "support/layer_selection.h"
#include "support/producer.h"
#include "support/support_attention.h"

namespace spf::cli {

namespace {
struct LogitsOptions {
  std::string model, ids, ids_file, out, method = "dense", budget = "100%";
  int dense_layers = 0;
  std::string sparse_layers = "all";
  int threads = 0;
  std::string dump_dir, dump_layers;
  int64_t prefill_chunk = 0;
  std::string device = "cpu";
};

void run_logits(const LogitsOptions& o) {
  apply_threads(o.threads);
  SPF_CHECK(o.ids.empty() != o.ids_file.empty(), "give exactly one of --ids and --ids-file");
  const std::vector<int32_t> ids =
      o.ids.empty() ? read_ids_file(o.ids_file) : parse_ids(o.ids, "--ids");
  const std::string where = o.ids.empty() ? o.ids_file : "--ids";
  check_output_path(o.out, "--out");
  const Device device = use_device(o.device);
  // The method is checked before the model loads. Plain dense runs the dense backend; any other
  // spec (dense:block64 included) goes through SupportAttention.
  std::unique_ptr<AttentionBackend> sparse;
  const MethodSpec spec = parse_method_spec(o.method);
  const LayerSelection sparse_layers = LayerSelection::parse(o.sparse_layers);
  if (to_string(spec) != "dense") {
    SupportAttentionOptions ao;
    ao.dense_layers = o.dense_layers;
    sparse = std::make_unique<SupportAttention>(make_producer(spec, parse_budget(o.budget)),
                                                executor_for(device), ao);
  }
  SPF_CHECK(o.dump_layers.empty() || !o.dump_dir.empty(), "--dump-layers needs --dump DIR");
  SPF_CHECK(o.dump_dir.empty() || !std::filesystem::exists(o.dump_dir) ||
                std::filesystem::is_directory(o.dump_dir),
            "--dump: ", o.dump_dir, " exists and is not a directory");
  LoadOptions lo;
  lo.device = device;
  auto model = load_model(resolve_model(o.model), lo);
  const ModelConfig& cfg = model->config();
  check_dense_layers(o.dense_layers, cfg);
  const std::vector<uint8_t> mask = sparse_layers.mask(cfg.n_attention_layers());
  check_indexer_specs({o.method}, cfg, resolve_model(o.model));
  if (sparse) {
    SupportAttentionOptions ao;
    ao.dense_layers = o.dense_layers;
    ao.sparse_layers = mask;
    // A method with a device implementation (the GPU indexer) runs it; others serve their host
    // producer with the device's executor.
    sparse = make_device_backend(spec, parse_budget(o.budget), device, ao);
    if (!sparse)
      sparse = std::make_unique<SupportAttention>(make_producer(spec, parse_budget(o.budget)),
                                                  executor_for(device), ao);
  }
  for (size_t i = 0; i < ids.size(); ++i)
    SPF_CHECK(ids[i] < cfg.vocab_size, where, ": token id ", ids[i], " at index ", i,
              " is outside the model's vocabulary of ", cfg.vocab_size);
  SPF_CHECK(int64_t(ids.size()) <= cfg.max_context, where, ": ", ids.size(),
            " token ids exceed the model's context of ", cfg.max_context, " tokens");
  std::unique_ptr<TraceRecorder> trace;
  if (!o.dump_dir.empty())
    trace = std::make_unique<TraceRecorder>(parse_layer_list(
        o.dump_layers.empty() ? "all" : o.dump_layers, cfg.n_layers, "--dump-layers"));
  auto state = model->new_state(int64_t(ids.size()));
  std::vector<float> logits(ids.size() * size_t(cfg.vocab_size));
  ForwardOptions fo;
  fo.mode = LogitsMode::all;
  fo.prefill_chunk = o.prefill_chunk;
  fo.trace = trace.get();
  model->forward(ids, *state, sparse ? *sparse : dense_attention_backend(device), logits, fo);
  const int64_t shape[2] = {int64_t(ids.size()), cfg.vocab_size};
  write_npy_f32(o.out, logits, shape);
  std::fprintf(stderr, "[spf] wrote %s [%zu, %d]\n", o.out.c_str(), ids.size(), cfg.vocab_size);
  if (trace) {
    const int files = trace->write_npy(o.dump_dir);
    std::fprintf(stderr, "[spf] wrote %d intermediates to %s\n", files, o.dump_dir.c_str());
  }
}
}  // namespace

void add_logits(CLI::App& app) {
  auto o = std::make_shared<LogitsOptions>();
  CLI::App* sub = app.add_subcommand(
      "logits", "Write a model's logits for token ids as float32 .npy [n, vocab]");
  sub->add_option("-m,--model", o->model,
                  "GGUF file or HF checkpoint directory (default: SmolLM2)");
  sub->add_option("--ids", o->ids, "Comma-separated token ids");
  sub->add_option("--ids-file", o->ids_file, "File of token ids (comma/space/newline separated)");
  sub->add_option("-o,--out", o->out, "Output .npy path")->required();
  sub->add_option("--method", o->method,
                  "Support method spec, e.g. dense, oracle:block64:groups=head, streaming "
                  "(see spf methods)");
  sub->add_option("--budget", o->budget,
                  "Support budget: 5% or 0.05, k=256, p=0.9 (+,sink=N,window=N)");
  sub->add_option("--dense-layers", o->dense_layers, "Keep the first L attention layers dense");
  sub->add_option("--sparse-layers", o->sparse_layers,
                  "Attention layers that run sparse: all, every:K (K-1, 2K-1, ...) or a list "
                  "3,7,11 (with --dense-layers: both must allow a layer)");
  sub->add_option("--dump", o->dump_dir,
                  "Also write per-layer intermediates as DIR/L<layer>.<name>.npy (created if "
                  "missing; names in src/model/trace.h)");
  sub->add_option("--dump-layers", o->dump_layers,
                  "Layers to dump: comma-separated indices or all (default: all)");
  sub->add_option("--prefill-chunk", o->prefill_chunk,
                  "Run the ids in chunks of N tokens (0 = all at once)")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 30));
  add_threads_option(*sub, o->threads);
  add_device_option(*sub, o->device);
  sub->callback([o] { run_logits(*o); });
}

}  // namespace spf::cli
