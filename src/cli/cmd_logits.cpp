// spf logits: float32 .npy [n_tokens, vocab] of a model's logits for given token ids (parity checks).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "cli/common.h"
#include "core/error.h"
#include "core/npy.h"
#include "model/model.h"

namespace spf::cli {

namespace {
struct LogitsOptions {
  std::string model, ids, ids_file, out;
  int threads = 0;
};

void run_logits(const LogitsOptions& o) {
  apply_threads(o.threads);
  SPF_CHECK(o.ids.empty() != o.ids_file.empty(), "give exactly one of --ids and --ids-file");
  const std::vector<int32_t> ids = o.ids.empty() ? read_ids_file(o.ids_file) : parse_ids(o.ids, "--ids");
  auto model = load_model(resolve_model(o.model));
  const ModelConfig& cfg = model->config();
  for (size_t i = 0; i < ids.size(); ++i)
    SPF_CHECK(ids[i] < cfg.vocab_size, "token id ", ids[i], " at index ", i, " is outside the vocabulary of ",
              cfg.vocab_size);
  auto state = model->new_state(int64_t(ids.size()));
  std::vector<float> logits(ids.size() * size_t(cfg.vocab_size));
  model->forward(ids, *state, dense_attention_backend(), LogitsMode::all, logits);
  const int64_t shape[2] = {int64_t(ids.size()), cfg.vocab_size};
  write_npy_f32(o.out, logits, shape);
  std::fprintf(stderr, "[spf] wrote %s [%zu, %d]\n", o.out.c_str(), ids.size(), cfg.vocab_size);
}
}  // namespace

void add_logits(CLI::App& app) {
  auto o = std::make_shared<LogitsOptions>();
  CLI::App* sub = app.add_subcommand("logits", "Write a model's logits for token ids as float32 .npy [n, vocab]");
  sub->add_option("-m,--model", o->model, "GGUF file or HF checkpoint directory (default: SmolLM2)");
  sub->add_option("--ids", o->ids, "Comma-separated token ids");
  sub->add_option("--ids-file", o->ids_file, "File of token ids (comma/space/newline separated)");
  sub->add_option("-o,--out", o->out, "Output .npy path")->required();
  add_threads_option(*sub, o->threads);
  sub->callback([o] { run_logits(*o); });
}

}  // namespace spf::cli
