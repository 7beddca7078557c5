// The trainer end to end on the tiny Llama fixture: the held-out KL falls; a run stopped after a
// checkpoint and resumed ends with the same bits as an uninterrupted one; the schedule.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <vector>

#include "indexer/trainer.h"
#include "model/model.h"
#include "test_util.h"

namespace spf {
namespace {

std::unique_ptr<Model> tiny_model() {
  return load_model(test::fixture("hf/llama"));
}

// A token stream with structure the attention picks up (repeated phrases), from a fixed seed.
std::vector<int32_t> token_stream(int64_t n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> phrase(24);
  for (int32_t& t : phrase) t = int32_t(rng() % uint32_t(vocab));
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    ids[size_t(i)] = rng() % 3 == 0 ? int32_t(rng() % uint32_t(vocab)) : phrase[size_t(i % 24)];
  return ids;
}

TrainConfig tiny_train(int64_t steps) {
  TrainConfig c;
  c.d_idx = 16;
  c.rope_dims = 8;
  c.seq_len = 96;
  c.steps = steps;
  c.lr = 1e-2;
  c.warmup = 3;
  c.seed = 5;
  c.data = "synthetic test stream";
  return c;
}

TEST(IndexerTrain, HeldOutKlFallsOnTheTinyModel) {
  auto model = tiny_model();
  const ModelIdentity id = model_identity(test::fixture("hf/llama"), model->config());
  const std::vector<int32_t> train = token_stream(4000, model->config().vocab_size, 1);
  const std::vector<int32_t> held = token_stream(128, model->config().vocab_size, 2);
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
}

TEST(IndexerTrain, ResumeAfterAStopEqualsAnUninterruptedRunBitForBit) {
  auto model = tiny_model();
  const ModelIdentity id = model_identity(test::fixture("hf/llama"), model->config());
  const std::vector<int32_t> train = token_stream(3000, model->config().vocab_size, 3);
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
  const std::vector<int32_t> train = token_stream(3000, model->config().vocab_size, seed);
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
