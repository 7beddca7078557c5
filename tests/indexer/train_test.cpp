// The trainer end to end on the tiny Llama fixture: the held-out KL falls; a run stopped after a
// checkpoint and resumed ends with the same bits as an uninterrupted one, with text windows and
// with synthetic ones mixed in (--synthetic); the schedule.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "eval/synthetic_windows.h"
#include "indexer/corpus.h"
#include "indexer/short_train.h"
#include "indexer/trainer.h"
#include "model/model.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace spf {
namespace {

std::unique_ptr<Model> tiny_model() {
  return load_model(test::fixture("hf/llama"));
}

using test::phrase_stream;

TrainConfig tiny_train(int64_t steps) {
  return test::short_train(16, 8, 96, steps);
}

TEST(IndexerTrain, HeldOutKlFallsOnTheTinyModel) {
  auto model = tiny_model();
  const ModelIdentity id = model_identity(test::fixture("hf/llama"), model->config());
  const std::vector<int32_t> train = phrase_stream(4000, model->config().vocab_size, 1);
  const std::vector<int32_t> held = phrase_stream(128, model->config().vocab_size, 2);
  const TrainConfig c = tiny_train(40);
  std::vector<double> first, last;
  TrainHooks hooks;
  hooks.eval_every = 40;
  hooks.heldout = held;
  hooks.on_eval = [&](int64_t step, int64_t, const std::vector<double>& kl) {
    (step == 0 ? first : last) = kl;
  };
  const TrainResult r = train_indexer(*model, id, train, c, "", hooks);
  EXPECT_TRUE(r.finished);
  EXPECT_EQ(r.file.meta.step, 40);
  EXPECT_EQ(r.file.meta.tokens_seen, 40 * 96);
  ASSERT_EQ(first.size(), 3u);
  ASSERT_EQ(last.size(), 3u);
  double before = 0, after = 0;
  for (size_t l = 0; l < 3; ++l) {
    before += first[l];
    after += last[l];
    EXPECT_LT(last[l], first[l]) << "layer " << l;
  }
  EXPECT_LT(after, 0.7 * before) << "before " << before / 3 << " after " << after / 3;
  // A curve asked for without held-out tokens is refused, not silently skipped.
  hooks.heldout = {};
  try {
    train_indexer(*model, id, train, c, "", hooks);
    ADD_FAILURE() << "eval_every without held-out tokens was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no held-out tokens"), std::string::npos) << e.what();
  }
  // Negative periods are refused by the library too, not read as "never".
  TrainHooks bad;
  bad.checkpoint_every = -1;
  try {
    train_indexer(*model, id, train, c, "", bad);
    ADD_FAILURE() << "checkpoint_every -1 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("checkpoint_every -1"), std::string::npos) << e.what();
  }
}

TEST(IndexerTrain, ResumeAfterAStopEqualsAnUninterruptedRunBitForBit) {
  auto model = tiny_model();
  const ModelIdentity id = model_identity(test::fixture("hf/llama"), model->config());
  const std::vector<int32_t> train = phrase_stream(3000, model->config().vocab_size, 3);
  const TrainConfig c = tiny_train(7);
  test::TempDir t;
  TrainHooks hooks;
  hooks.checkpoint_every = 2;
  const TrainResult whole = train_indexer(*model, id, train, c, t.file("a.train"), hooks);
  ASSERT_TRUE(whole.finished);

  hooks.stop_after = 3;  // checkpoint at 2 (periodic) and at 3 (the stop), then "killed"
  const TrainResult part = train_indexer(*model, id, train, c, t.file("b.train"), hooks);
  EXPECT_FALSE(part.finished);
  EXPECT_EQ(part.file.meta.step, 3);
  hooks.stop_after = 0;
  const TrainResult rest = train_indexer(*model, id, train, c, t.file("b.train"), hooks);
  EXPECT_TRUE(rest.resumed);
  EXPECT_TRUE(rest.finished);
  EXPECT_EQ(rest.steps_run, 4);
  EXPECT_EQ(rest.file.meta.tokens_seen, whole.file.meta.tokens_seen);
  ASSERT_EQ(rest.file.weights.params.size(), whole.file.weights.params.size());
  EXPECT_TRUE(rest.file.weights.params == whole.file.weights.params);
  EXPECT_TRUE(rest.file.adam_m == whole.file.adam_m);
  EXPECT_TRUE(rest.file.adam_v == whole.file.adam_v);
  // And the weights did move.
  EXPECT_FALSE(whole.file.weights.params ==
               random_indexer(whole.file.weights.config, c.seed).params);

  // A checkpoint of another config is refused, not silently mixed in.
  TrainConfig other = c;
  other.lr = 2e-2;
  try {
    train_indexer(*model, id, train, other, t.file("b.train"), hooks);
    ADD_FAILURE() << "resumed with another config";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("another training config"), std::string::npos) << e.what();
  }
}

// The same with a top-k loss `spec` (saved as `saved`); its checkpoint names the loss, and
// resuming it under any of `others` (plain KL included) is refused with one line saying so.
void check_loss_resumes_and_refuses(const char* spec, const std::string& saved,
                                    std::initializer_list<const char*> others, uint32_t seed) {
  auto model = tiny_model();
  const ModelIdentity id = model_identity(test::fixture("hf/llama"), model->config());
  const std::vector<int32_t> train = phrase_stream(3000, model->config().vocab_size, seed);
  TrainConfig c = tiny_train(5);
  c.loss = parse_distill_loss(spec);
  test::TempDir t;
  TrainHooks hooks;
  hooks.checkpoint_every = 2;
  std::vector<double> losses;
  hooks.on_step = [&](int64_t, int64_t, double loss, int64_t, double) { losses.push_back(loss); };
  const TrainResult whole = train_indexer(*model, id, train, c, t.file("a.train"), hooks);
  ASSERT_TRUE(whole.finished);
  EXPECT_EQ(whole.file.meta.extra.at("loss"), saved);
  EXPECT_NE(whole.file.meta.train_config.find("\"loss\":\"" + saved + "\""), std::string::npos);
  EXPECT_EQ(load_indexer(t.file("a.train")).meta.extra.at("loss"), saved);
  hooks.on_step = nullptr;

  hooks.stop_after = 2;
  ASSERT_FALSE(train_indexer(*model, id, train, c, t.file("b.train"), hooks).finished);
  hooks.stop_after = 0;
  const TrainResult rest = train_indexer(*model, id, train, c, t.file("b.train"), hooks);
  EXPECT_TRUE(rest.resumed);
  EXPECT_TRUE(rest.finished);
  EXPECT_TRUE(rest.file.weights.params == whole.file.weights.params);
  EXPECT_TRUE(rest.file.adam_m == whole.file.adam_m);
  EXPECT_TRUE(rest.file.adam_v == whole.file.adam_v);

  // Against plain KL from the same seed: other weights.
  TrainConfig kl = c;
  kl.loss = {};
  const TrainResult plain = train_indexer(*model, id, train, kl, "", hooks);
  EXPECT_FALSE(plain.file.weights.params == whole.file.weights.params);
  EXPECT_EQ(plain.file.meta.extra.at("loss"), "kl");
  EXPECT_EQ(plain.file.meta.train_config.find("loss"), std::string::npos);

  for (const char* other : others) {
    TrainConfig o = c;
    o.loss = parse_distill_loss(other);
    try {
      train_indexer(*model, id, train, o, t.file("b.train"), hooks);
      ADD_FAILURE() << "resumed under loss " << other;
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("trained with --loss " + saved + ", not " + o.loss.spec()),
                std::string::npos)
          << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos);
    }
  }
}

TEST(IndexerTrain, TopKLossResumesBitForBitAndRefusesAnotherLoss) {
  check_loss_resumes_and_refuses("kl+topk:1:10%", "kl+topk:1:0.1",
                                 {"kl", "kl+topk:2:10%", "kl+topk:1", "kl+topce:1:10%"}, 4);
}

// The cross-entropy variant: refused under the restricted KL of the same LAMBDA and FRAC too.
TEST(IndexerTrain, TopCeLossResumesBitForBitAndRefusesAnotherLoss) {
  check_loss_resumes_and_refuses("kl+topce:1:10%", "kl+topce:1:0.1",
                                 {"kl", "kl+topk:1:10%", "kl+topce:2:10%", "kl+topce:1"}, 6);
}

// A source's ids folded into the tiny model's vocabulary (the SmolLM2 tokenizer's ids are larger):
// what is tested is the determinism of the data path, not what the windows teach.
class FoldedWindows final : public TrainWindows {
 public:
  FoldedWindows(const TrainWindows& inner, int vocab) : inner_(inner), vocab_(vocab) {}
  void window(int64_t step, std::vector<int32_t>& ids) const override {
    inner_.window(step, ids);
    for (int32_t& t : ids) t %= vocab_;
  }

 private:
  const TrainWindows& inner_;
  int vocab_;
};

TEST(IndexerTrain, SyntheticMixResumesBitForBitAndRefusesAnotherMix) {
  auto model = tiny_model();
  const ModelIdentity id = model_identity(test::fixture("hf/llama"), model->config());
  test::TempDir t;
  const std::string prose = read_file(test::fixture("text/prose.txt"));
  write_file_atomic(t.file("doc.txt"), prose + "\n" + prose + "\n" + prose);
  CorpusOptions co;
  co.roots = {t.file("doc.txt")};
  co.heldout_every = 1000003;  // (almost surely) nothing held out
  const Corpus corpus = load_corpus(co);
  const Tokenizer tok = Tokenizer::from_hf_json(test::fixture("tokenizer/smollm2_tokenizer.json"));
  const std::vector<int32_t> ids = corpus_tokens(tok, corpus.train_text);
  TrainConfig c = tiny_train(6);
  c.seq_len = 320;
  c.synthetic = 0.5;
  c.synthetic_tasks = {"niah_single_1", "niah_single_2", "niah_multikey_1"};
  // What a (re)started process builds: the shards, then the mixed source.
  auto shards = [&] {
    return eval::make_haystack_shards(corpus.train_files, eval::haystack_shard_bytes(c.seq_len),
                                      eval::TextFingerprint(eval::evaluation_haystack_files()));
  };
  c.synthetic_data = shards().describe();
  const eval::SyntheticWindows mix(c, ids, tok, shards());
  const FoldedWindows data(mix, model->config().vocab_size);
  int synthetic = 0;
  for (int64_t s = 0; s < c.steps; ++s) synthetic += synthetic_step(c, s);
  ASSERT_LT(synthetic, c.steps);  // both kinds, and synthetic ones after the stop at 3
  ASSERT_TRUE(synthetic_step(c, 3) || synthetic_step(c, 4) || synthetic_step(c, 5));

  TrainHooks hooks;
  hooks.checkpoint_every = 2;
  const TrainResult whole = train_indexer(*model, id, data, c, t.file("a.train"), hooks);
  ASSERT_TRUE(whole.finished);
  const std::string spec = "0.5:niah_single_1,niah_single_2,niah_multikey_1";
  EXPECT_EQ(whole.file.meta.extra.at("synthetic"), spec);
  EXPECT_EQ(load_indexer(t.file("a.train")).meta.extra.at("synthetic"), spec);
  EXPECT_NE(whole.file.meta.train_config.find("\"synthetic\":0.5"), std::string::npos);
  EXPECT_NE(whole.file.meta.train_config.find("niah_multikey_1"), std::string::npos);

  hooks.stop_after = 3;
  ASSERT_FALSE(train_indexer(*model, id, data, c, t.file("b.train"), hooks).finished);
  hooks.stop_after = 0;
  // The resumed run's source is built afresh, as a restarted process would.
  const std::vector<int32_t> ids2 = corpus_tokens(tok, load_corpus(co).train_text);
  const eval::SyntheticWindows mix2(c, ids2, tok, shards());
  const TrainResult rest = train_indexer(
      *model, id, FoldedWindows(mix2, model->config().vocab_size), c, t.file("b.train"), hooks);
  EXPECT_TRUE(rest.resumed);
  EXPECT_TRUE(rest.finished);
  EXPECT_EQ(rest.steps_run, 3);
  EXPECT_TRUE(rest.file.weights.params == whole.file.weights.params);
  EXPECT_TRUE(rest.file.adam_m == whole.file.adam_m);
  EXPECT_TRUE(rest.file.adam_v == whole.file.adam_v);

  // Text only: no trace of the option in the config JSON (the metadata a text-only run writes).
  TrainConfig text = c;
  text.synthetic = 0;
  EXPECT_EQ(text.json().find("\"synthetic\":"), std::string::npos) << text.json();
  EXPECT_EQ(text.json().find("synthetic_tasks"), std::string::npos) << text.json();
  EXPECT_EQ(text.synthetic_spec(), "0");
  std::vector<int32_t> folded = ids;
  for (int32_t& x : folded) x %= model->config().vocab_size;

  // Resuming under another mix is refused with one line naming both.
  TrainConfig frac = c, tasks = c;
  frac.synthetic = 0.25;
  tasks.synthetic_tasks = {"niah_single_1", "niah_single_2"};
  for (const TrainConfig* o : {&text, &frac, &tasks}) {
    try {
      train_indexer(*model, id, folded, *o, t.file("b.train"), hooks);
      ADD_FAILURE() << "resumed under --synthetic " << o->synthetic_spec();
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("trained with --synthetic " + spec + ", not " + o->synthetic_spec()),
                std::string::npos)
          << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos);
    }
  }
}

TEST(IndexerTrain, ScheduleWarmsUpThenDecaysToTheFinalFraction) {
  TrainConfig c = tiny_train(100);
  c.lr = 1.0;
  c.warmup = 10;
  c.final_lr_frac = 0.1;
  EXPECT_DOUBLE_EQ(lr_at(c, 0), 0.1);
  EXPECT_DOUBLE_EQ(lr_at(c, 9), 1.0);
  EXPECT_NEAR(lr_at(c, 10), 1.0, 1e-12);
  EXPECT_NEAR(lr_at(c, 99), 0.1, 1e-12);
  EXPECT_GT(lr_at(c, 40), lr_at(c, 60));
  // Windows are a function of (seed, step) and lie inside the stream.
  for (int64_t s = 0; s < 50; ++s) {
    const int64_t w = window_start(c, s, 1000);
    EXPECT_GE(w, 0);
    EXPECT_LE(w + c.seq_len, 1000);
    EXPECT_EQ(w, window_start(c, s, 1000));
  }
}

}  // namespace
}  // namespace spf
