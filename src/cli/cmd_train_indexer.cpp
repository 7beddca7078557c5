// spf train-indexer: distil the head-collapsed indexer of a model (src/indexer/trainer.h) from
// plain-text files, resumable after a kill (the checkpoint beside --out), with --synthetic FRAC of
// the steps on synthetic long-context samples instead (src/eval/synthetic_windows.h);
// --random-init writes an untrained indexer (runtime-headroom measurements). spf indexer-eval:
// held-out KL, recall of the oracle's top-k and retained mass per layer (src/indexer/metrics.h);
// --cost times indexer scoring + top-k next to dense attention for one layer at given lengths.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "attention/cpu/cpu_executor.h"
#include "cli/common.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/threads.h"
#include "core/timer.h"
#include "eval/synthetic_windows.h"
#include "indexer/corpus.h"
#include "indexer/metrics.h"
#include "indexer/producer.h"
#include "indexer/trainer.h"
#include "support/budget.h"
#include "tokenizer/tokenizer.h"

namespace spf::cli {

namespace {

std::string duration(double s) {
  const int64_t t = int64_t(s + 0.5);
  return t >= 3600 ? cat(t / 3600, "h", (t / 60) % 60, "m") : cat(t / 60, "m", t % 60, "s");
}

struct TrainOptions {
  std::string model, out, checkpoint, log, loss = "kl";
  std::vector<std::string> text, exclude;
  int heldout_every = 10;
  int64_t max_bytes = int64_t(4) << 20;
  std::vector<std::string> synthetic_tasks = eval::default_synthetic_tasks();
  TrainConfig train;
  int64_t checkpoint_every = 25, eval_every = 0, eval_tokens = 2048, stop_after = 0;
  bool random_init = false;
  int threads = 0;
  std::string device = "cpu";
};

void run_train(const TrainOptions& o) {
  apply_threads(o.threads);
  check_output_path(o.out, "--out");
  const std::string ckpt = o.checkpoint.empty() ? o.out + ".train" : o.checkpoint;
  check_output_path(ckpt, "--checkpoint");
  if (!o.log.empty()) check_appendable(o.log);
  TrainConfig tc = o.train;
  tc.synthetic_tasks = o.synthetic_tasks;
  tc.validate();
  eval::check_synthetic_tasks(tc.synthetic_tasks);  // bad values fail before the model loads
  const DistillLoss loss = parse_distill_loss(o.loss);
  SPF_CHECK(o.device == "cpu" || loss.is_kl(), "--loss ", o.loss,
            " is implemented on the CPU only (--device cuda trains --loss kl)");
  const Device device = o.random_init ? Device::cpu : use_device(o.device);
  const std::string path = resolve_model(o.model);
  LoadOptions lo;
  lo.device = device;
  auto model = load_model(path, lo);
  const ModelConfig& cfg = model->config();
  const ModelIdentity id = model_identity(path, cfg);
  if (o.random_init) {
    IndexerFile f;
    f.weights = random_indexer(indexer_config_for(cfg, o.train.d_idx, o.train.rope_dims,
                                                  o.train.heads, o.train.per_kv_group),
                               o.train.seed);
    f.meta.model = id;
    f.meta.init_seed = o.train.seed;
    save_indexer(o.out, f);
    std::fprintf(stderr, "[spf] wrote random-init indexer %s (%s, %d layers, seed %llu)\n",
                 o.out.c_str(), f.weights.config.variant().c_str(), f.weights.config.n_layers,
                 (unsigned long long)o.train.seed);
    return;
  }
  CorpusOptions co;
  co.roots = o.text;
  co.excludes = o.exclude;
  co.heldout_every = o.heldout_every;
  co.max_bytes = o.max_bytes;
  const Corpus corpus = load_corpus(co);
  // A curve asked for and silently skipped would look like a run that never evaluated.
  SPF_CHECK(o.eval_every <= 0 || !corpus.heldout_files.empty(), "--eval-every ", o.eval_every,
            ": the held-out split of --text is empty (a file is held out when its path hashes to 0",
            " mod --heldout-every ", o.heldout_every,
            "); give more files or a smaller --heldout-every");
  const Tokenizer tok = Tokenizer::load_for_model(path);
  const std::vector<int32_t> train_ids = corpus_tokens(tok, corpus.train_text);
  std::vector<int32_t> heldout = corpus_tokens(tok, corpus.heldout_text);
  if (int64_t(heldout.size()) > o.eval_tokens) heldout.resize(size_t(o.eval_tokens));
  tc.data = corpus.describe();
  tc.loss = parse_distill_loss(o.loss);
  std::fprintf(stderr,
               "[spf] data: %s; %zu training tokens, %zu held-out tokens for the curve; loss %s\n",
               tc.data.c_str(), train_ids.size(), heldout.size(), tc.loss.spec().c_str());
  // With --synthetic: the mixed source; its haystacks are training files only, minus any that
  // repeat the evaluation haystack's text.
  std::unique_ptr<eval::SyntheticWindows> mix;
  if (tc.synthetic > 0) {
    const eval::TextFingerprint forbidden(eval::evaluation_haystack_files());
    eval::HaystackShards shards = eval::make_haystack_shards(
        corpus.train_files, eval::haystack_shard_bytes(tc.seq_len), forbidden);
    tc.synthetic_data = shards.describe();
    mix = std::make_unique<eval::SyntheticWindows>(tc, train_ids, tok, std::move(shards));
    mix->check();  // every task fits --seq-len
    std::fprintf(stderr, "[spf] synthetic: %s (fraction:tasks); %s\n", tc.synthetic_spec().c_str(),
                 tc.synthetic_data.c_str());
  }

  TrainHooks hooks;
  hooks.device = device;
  hooks.checkpoint_every = o.checkpoint_every;
  hooks.stop_after = o.stop_after;
  hooks.eval_every = o.eval_every;
  hooks.heldout = heldout;
  int64_t first_step = -1, synthetic_steps = 0;
  hooks.on_step = [&](int64_t step, int64_t steps, double loss, int64_t tokens, double secs) {
    if (first_step < 0) first_step = step - 1;
    const double per = secs / double(step - first_step);
    // With --synthetic: the kind of this step's window and the counts of this run.
    std::string kind;
    if (mix) {
      kind = mix->kind(step - 1);
      synthetic_steps += kind != "text";
      const int64_t run = step - first_step;
      kind =
          cat("  [", kind, "; text ", run - synthetic_steps, ", synthetic ", synthetic_steps, "]");
    }
    std::fprintf(stderr,
                 "\r[train-indexer] step %lld/%lld  loss %.4f  %lld tokens  %.1f s/step  "
                 "ETA %s%s   ",
                 (long long)step, (long long)steps, loss, (long long)tokens, per,
                 duration(per * double(steps - step)).c_str(), kind.c_str());
    if (step == steps || step % 10 == 0) std::fprintf(stderr, "\n");
    if (!o.log.empty()) {
      nlohmann::ordered_json j;
      j["step"] = step;
      j["tokens"] = tokens;
      if (mix) j["window"] = mix->kind(step - 1);
      j["train_loss"] = loss;
      j["lr"] = lr_at(tc, step - 1);
      j["seconds"] = secs;
      append_line_durable(o.log, j.dump());
    }
  };
  hooks.on_eval = [&](int64_t step, int64_t tokens, const std::vector<double>& kl) {
    double mean = 0;
    for (const double v : kl) mean += v / double(kl.size());
    std::fprintf(stderr, "\n[train-indexer] held-out KL at step %lld (%lld tokens): %.4f\n",
                 (long long)step, (long long)tokens, mean);
    if (!o.log.empty()) {
      nlohmann::ordered_json j;
      j["step"] = step;
      j["tokens"] = tokens;
      j["heldout_kl"] = mean;
      j["heldout_kl_layers"] = kl;
      append_line_durable(o.log, j.dump());
    }
  };
  const TrainResult r = mix ? train_indexer(*model, id, *mix, tc, ckpt, hooks)
                            : train_indexer(*model, id, train_ids, tc, ckpt, hooks);
  if (r.resumed) std::fprintf(stderr, "[spf] resumed from %s\n", ckpt.c_str());
  if (!r.finished) {
    std::fprintf(stderr, "[spf] stopped at step %lld of %lld (checkpoint %s)\n",
                 (long long)r.file.meta.step, (long long)tc.steps, ckpt.c_str());
    return;
  }
  IndexerFile out = r.file;
  out.adam_m.clear();
  out.adam_v.clear();
  save_indexer(o.out, out);
  std::fprintf(stderr, "[spf] wrote %s: %lld steps, %lld tokens, %d threads, %.0f s this run\n",
               o.out.c_str(), (long long)out.meta.step, (long long)out.meta.tokens_seen,
               num_threads(), r.seconds);
}

struct EvalOptions {
  std::string model, indexer, json_out, write_text;
  std::vector<std::string> text, exclude;
  int heldout_every = 10;
  std::string split = "heldout";
  int64_t tokens = 4096;
  std::vector<std::string> budgets{"2%", "5%", "10%", "20%"};
  int block = 64;
  std::vector<int64_t> cost_lengths;
  int threads = 0;
};

// Indexer scoring + top-k (observe + produce of one layer) next to dense attention of that layer
// on random inputs of the model's shapes; the best of `reps`.
void run_cost(const EvalOptions& o, const Model& model, const IndexerFile& f) {
  const ModelConfig& c = model.config();
  std::printf(
      "| tokens | dense attention (s) | indexer keys + scores + top-5%% (s) | ratio | sparse "
      "attention on that support (s) | (indexer + sparse) / dense |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (const int64_t n : o.cost_lengths) {
    const int H = c.n_heads, Hk = c.n_kv_heads, D = c.head_dim;
    const std::vector<float> q = [&] {
      std::vector<float> v(size_t(n * H * D));
      for (size_t i = 0; i < v.size(); ++i) v[i] = float(std::sin(double(i) * 0.37));
      return v;
    }();
    std::vector<float> k(size_t(n * Hk * D)), v(size_t(n * Hk * D)), out(size_t(n * H * D));
    std::vector<float> hidden(size_t(n * c.hidden));
    for (size_t i = 0; i < k.size(); ++i) k[i] = float(std::cos(double(i) * 0.11));
    for (size_t i = 0; i < v.size(); ++i) v[i] = float(std::sin(double(i) * 0.07));
    for (size_t i = 0; i < hidden.size(); ++i) hidden[i] = float(std::sin(double(i) * 0.013));
    SideCache cache(n);
    AttentionCall call;
    call.shape = {n, n, 0, H, Hk, D, 1.0f / std::sqrt(float(D))};
    call.q = TensorView::of(q.data(), {n, H, D});
    call.k = TensorView::of(k.data(), {n, Hk, D});
    call.v = TensorView::of(v.data(), {n, Hk, D});
    call.out = TensorView::of(out.data(), {n, H, D});
    call.hidden = TensorView::of(hidden.data(), {n, c.hidden});
    call.side_cache = &cache;
    ProducerOptions po;
    po.budget = Budget::fraction(0.05);
    po.groups = f.weights.config.n_groups > 1 ? GroupMode::per_kv_group : GroupMode::shared;
    IndexerProducer prod(std::make_shared<const IndexerFile>(f), o.indexer, po);
    double dense_s = 1e30, idx_s = 1e30, sparse_s = 1e30;
    for (int rep = 0; rep < 3; ++rep) {
      Stopwatch sw;
      cpu_executor().dense(call);
      dense_s = std::min(dense_s, sw.seconds());
      SideCache fresh(n);
      call.side_cache = &fresh;
      sw.reset();
      prod.observe(call);
      const Support s = prod.produce(call, cpu_executor());
      idx_s = std::min(idx_s, sw.seconds());
      sw.reset();
      cpu_executor().sparse(call, s.validated());
      sparse_s = std::min(sparse_s, sw.seconds());
      call.side_cache = &cache;
    }
    std::printf("| %lld | %.4f | %.4f | %.2f | %.4f | %.2f |\n", (long long)n, dense_s, idx_s,
                idx_s / dense_s, sparse_s, (idx_s + sparse_s) / dense_s);
    std::fflush(stdout);
  }
}

void run_indexer_eval(const EvalOptions& o) {
  apply_threads(o.threads);
  if (!o.json_out.empty()) check_output_path(o.json_out, "--json");
  std::vector<double> fractions;
  for (const std::string& b : o.budgets) {
    const Budget bb = parse_budget(b);
    SPF_CHECK(bb.kind == BudgetKind::fraction && bb.sink == 0 && bb.window == 0, "--budgets: ", b,
              " (fractions only, e.g. 5%)");
    fractions.push_back(bb.value);
  }
  const IndexerFile f = load_indexer(o.indexer);
  const std::string path = resolve_model(o.model);
  auto model = load_model(path);
  check_indexer_for_model(f, o.indexer, model->config(), path);
  if (!o.cost_lengths.empty()) {
    run_cost(o, *model, f);
    return;
  }
  SPF_CHECK(o.split == "heldout" || o.split == "train", "--split ", o.split, " (heldout or train)");
  CorpusOptions co;
  co.roots = o.text;
  co.excludes = o.exclude;
  co.heldout_every = o.heldout_every;
  const Corpus corpus = load_corpus(co);
  const Tokenizer tok = Tokenizer::load_for_model(path);
  std::vector<int32_t> ids =
      corpus_tokens(tok, o.split == "heldout" ? corpus.heldout_text : corpus.train_text);
  SPF_CHECK(int64_t(ids.size()) >= o.tokens, "indexer-eval: the ", o.split, " split has ",
            ids.size(), " tokens, fewer than --tokens ", o.tokens);
  ids.resize(size_t(o.tokens));
  if (!o.write_text.empty()) {  // the measured text, for spf oracle --prompt-file
    write_file_atomic(o.write_text, tok.decode(ids));
    std::fprintf(stderr, "[spf] wrote the %lld %s tokens as text to %s\n", (long long)o.tokens,
                 o.split.c_str(), o.write_text.c_str());
    return;
  }
  Stopwatch sw;
  const std::vector<LayerMetrics> layers =
      indexer_metrics(*model, f.weights, ids, fractions, o.block);
  const LayerMetrics mean = mean_metrics(layers);
  std::printf("indexer %s (%s, step %lld, %lld tokens seen) on %lld %s tokens (%.0f s)\n",
              o.indexer.c_str(), f.weights.config.variant().c_str(), (long long)f.meta.step,
              (long long)f.meta.tokens_seen, (long long)o.tokens, o.split.c_str(), sw.seconds());
  std::printf("| layer | KL |");
  for (const double fr : fractions)
    std::printf(" recall@%g%% | mass@%g%% (oracle) |", fr * 100, fr * 100);
  std::printf(" block%d mass@5%%-ish (block oracle) |\n|---|---|", o.block);
  for (size_t i = 0; i < fractions.size(); ++i) std::printf("---|---|");
  std::printf("---|\n");
  auto row = [&](const LayerMetrics& l) {
    std::printf("| %s | %.3f |", l.layer < 0 ? "mean" : std::to_string(l.layer).c_str(), l.kl);
    for (const BudgetMetrics& b : l.budgets)
      std::printf(" %.3f | %.3f (%.3f) |", b.recall, b.mass, b.oracle_mass);
    const size_t mid = std::min<size_t>(1, l.budgets.size() - 1);
    std::printf(" %.3f (%.3f) |\n", l.budgets[mid].block_mass, l.budgets[mid].block_oracle_mass);
  };
  for (const LayerMetrics& l : layers) row(l);
  row(mean);
  if (o.json_out.empty()) return;
  nlohmann::ordered_json j;
  j["indexer"] = o.indexer;
  j["variant"] = f.weights.config.variant();
  j["step"] = f.meta.step;
  j["tokens_seen"] = f.meta.tokens_seen;
  j["model"] = path;
  j["split"] = o.split;
  j["tokens"] = o.tokens;
  j["block"] = o.block;
  j["data"] = corpus.describe();
  auto to_json = [](const LayerMetrics& l) {
    nlohmann::ordered_json x;
    x["layer"] = l.layer;
    x["kl"] = l.kl;
    for (const BudgetMetrics& b : l.budgets)
      x["budgets"].push_back({{"fraction", b.fraction},
                              {"recall", b.recall},
                              {"mass", b.mass},
                              {"oracle_mass", b.oracle_mass},
                              {"block_mass", b.block_mass},
                              {"block_oracle_mass", b.block_oracle_mass}});
    return x;
  };
  for (const LayerMetrics& l : layers) j["layers"].push_back(to_json(l));
  j["mean"] = to_json(mean);
  write_file_atomic(o.json_out, j.dump(1) + "\n");
}

}  // namespace

void add_train_indexer(CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  CLI::App* sub = app.add_subcommand(
      "train-indexer",
      "Distil a head-collapsed indexer (KL to dense head-averaged attention, backbone frozen)");
  sub->add_option("-m,--model", o->model,
                  "GGUF file or HF checkpoint directory (default: SmolLM2)");
  sub->add_option("-o,--out", o->out, "Output indexer .safetensors")->required();
  sub->add_option("--checkpoint", o->checkpoint,
                  "Training checkpoint (default OUT.train): resumed from when present");
  sub->add_option("--text", o->text, "Text files or folders (README*, *.txt, *.md under them)");
  sub->add_option("--exclude", o->exclude, "Skip paths containing any of these substrings");
  sub->add_option("--heldout-every", o->heldout_every,
                  "Files whose path hash is 0 mod N are held out (default 10)");
  sub->add_option("--max-bytes", o->max_bytes, "Text bytes per split (default 4 MiB)");
  sub->add_option("--d-idx", o->train.d_idx, "Indexer dimension (default 64)");
  sub->add_option("--rope-dims", o->train.rope_dims,
                  "Dims with RoPE (default 32; 0 = position-free)");
  sub->add_option("--heads", o->train.heads,
                  "Indexer heads mixed by learned per-token weights (default 1)");
  sub->add_flag("--per-kv-group", o->train.per_kv_group, "One scorer per KV group");
  sub->add_option("--seq-len", o->train.seq_len, "Tokens per training window (default 1024)");
  sub->add_option("--steps", o->train.steps, "Training steps (default 100)");
  sub->add_option("--lr", o->train.lr, "Peak learning rate (default 1e-3)");
  sub->add_option("--warmup", o->train.warmup, "Warm-up steps (default 10)");
  sub->add_option("--final-lr-frac", o->train.final_lr_frac,
                  "Cosine decay ends at this fraction of --lr (default 0.1)");
  sub->add_option("--clip", o->train.clip, "Gradient-norm clip (default 1)");
  seed_value(sub->add_option("--seed", o->train.seed, "Init and data-order seed (default 1)"));
  sub->add_option("--synthetic", o->train.synthetic,
                  "Fraction of the steps (chosen by a hash of seed and step) that train on a "
                  "synthetic long-context sample instead of a text window: a RULER-style task "
                  "prompt in the model's chat format plus its answer, haystack from the training "
                  "split, seeds no evaluation uses (default 0: text only)");
  sub->add_option("--synthetic-tasks", o->synthetic_tasks,
                  std::string("Built-in tasks of the synthetic steps, comma-separated (default ") +
                      eval::kDefaultSyntheticTasks + ")")
      ->delimiter(',');
  sub->add_option("--loss", o->loss,
                  "kl (default), kl+topk:LAMBDA[:FRAC]: adds LAMBDA x KL over the target's top "
                  "FRAC keys per query, both sides renormalised, or kl+topce:LAMBDA[:FRAC]: adds "
                  "LAMBDA x cross-entropy of the renormalised top-FRAC target against the full "
                  "indexer softmax (FRAC default 5%)");
  // A long run must checkpoint: 0 or a negative value would lose every step to a kill.
  at_least(sub->add_option("--checkpoint-every", o->checkpoint_every, "Steps between checkpoints"),
           1);
  at_least(sub->add_option("--eval-every", o->eval_every,
                           "Held-out KL every N steps (0 = never; logged with --log)"),
           0);
  at_least(sub->add_option("--eval-tokens", o->eval_tokens, "Held-out tokens for --eval-every"), 1);
  sub->add_option("--log", o->log, "Append JSONL progress (loss, held-out KL) here");
  at_least(sub->add_option("--stop-after", o->stop_after,
                           "Stop after this many steps as a kill would (tests resume)"),
           0);
  sub->add_flag("--random-init", o->random_init, "Write an untrained indexer and exit");
  add_threads_option(*sub, o->threads);
  add_device_option(*sub, o->device);
  sub->callback([o] { run_train(*o); });

  auto e = std::make_shared<EvalOptions>();
  CLI::App* ev = app.add_subcommand(
      "indexer-eval", "Indexer vs oracle per layer: held-out KL, recall of top-k, retained mass");
  ev->add_option("-m,--model", e->model, "GGUF file or HF checkpoint directory");
  ev->add_option("--indexer", e->indexer, "Indexer .safetensors")->required();
  ev->add_option("--text", e->text, "Text files or folders (as for train-indexer)");
  ev->add_option("--exclude", e->exclude, "Skip paths containing any of these substrings");
  ev->add_option("--heldout-every", e->heldout_every, "As for train-indexer");
  ev->add_option("--split", e->split, "heldout (default) or train");
  at_least(ev->add_option("--tokens", e->tokens, "Tokens of text (default 4096)"), 1);
  ev->add_option("--budgets", e->budgets, "Fractions (default 2%,5%,10%,20%)")->delimiter(',');
  ev->add_option("--block", e->block, "Block of the block-shared form (default 64)");
  ev->add_option("--json", e->json_out, "Write the metrics as JSON");
  ev->add_option("--write-text", e->write_text,
                 "Instead: write the --tokens tokens of the split as text (for spf oracle)");
  at_least(
      ev->add_option("--cost", e->cost_lengths,
                     "Instead: time indexer scoring + top-k vs dense attention at these lengths")
          ->delimiter(','),
      1);
  add_threads_option(*ev, e->threads);
  ev->callback([e] { run_indexer_eval(*e); });
}

}  // namespace spf::cli
