// The synthetic long-context windows of train-indexer --synthetic (eval/synthetic_windows.h) and
// the step-kind choice of the trainer: the kind of a step is a deterministic function of (seed,
// step) that hits the fraction; a synthetic window has exactly seq_len tokens, starts with the
// chat-format prompt and holds the needle values and the answer; its haystack comes from training
// files only, never from the evaluation haystack; its seeds are none of the repo's sweeps.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "eval/rng.h"
#include "eval/sweep_config.h"
#include "eval/synthetic_windows.h"
#include "eval/task_generator.h"
#include "indexer/corpus.h"
#include "indexer/trainer.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace spf {
namespace {

namespace fs = std::filesystem;

TrainConfig mix_config(double frac, std::vector<std::string> tasks, int64_t seq_len = 512) {
  TrainConfig c;
  c.seq_len = seq_len;
  c.steps = 100;
  c.seed = 7;
  c.synthetic = frac;
  c.synthetic_tasks = std::move(tasks);
  return c;
}

TEST(IndexerSynthetic, StepKindIsDeterministicAndHitsTheFraction) {
  const std::vector<std::string> tasks = {"niah_single_1", "niah_single_2", "niah_multikey_1"};
  constexpr int64_t kSteps = 20000;
  for (const double frac : {0.0, 0.05, 0.25, 0.5, 0.9, 1.0}) {
    const TrainConfig c = mix_config(frac, tasks);
    int64_t hits = 0;
    std::map<size_t, int64_t> per_task;
    for (int64_t s = 0; s < kSteps; ++s) {
      const bool syn = synthetic_step(c, s);
      EXPECT_EQ(syn, synthetic_step(c, s));
      hits += syn;
      if (syn) ++per_task[synthetic_task(c, s)];
    }
    // Binomial standard deviation at most 0.0036 here: 0.015 is over four of them.
    EXPECT_NEAR(double(hits) / kSteps, frac, 0.015) << "frac " << frac;
    if (frac == 0) {
      EXPECT_EQ(hits, 0);
    }
    if (frac == 1) {
      EXPECT_EQ(hits, kSteps);
    }
    for (const auto& [t, n] : per_task) {
      EXPECT_LT(t, tasks.size());
      EXPECT_NEAR(double(n) / double(hits), 1.0 / 3.0, 0.03) << "frac " << frac << " task " << t;
    }
  }
  // Another seed: another pattern; the same seed in another order: the same one.
  TrainConfig a = mix_config(0.5, tasks), b = a;
  b.seed = 8;
  int64_t differ = 0;
  for (int64_t s = 999; s >= 0; --s) differ += synthetic_step(a, s) != synthetic_step(b, s);
  EXPECT_GT(differ, 300);
  // The kind is not the text window's hash in disguise: both kinds land everywhere in the stream.
  int64_t syn_low = 0, text_low = 0;
  for (int64_t s = 0; s < 4000; ++s) {
    const bool low = window_start(a, s, 100000) < 50000;
    (synthetic_step(a, s) ? syn_low : text_low) += low;
  }
  EXPECT_GT(syn_low, 800);
  EXPECT_GT(text_low, 800);
}

TEST(IndexerSynthetic, BadFractionsAndTasksAreOneLineErrors) {
  for (const double bad : {-0.1, 1.5, std::nan("")}) {
    try {
      mix_config(bad, {"niah_single_1"}).validate();
      ADD_FAILURE() << "accepted --synthetic " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--synthetic"), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
  }
  EXPECT_THROW(mix_config(0.5, {}).validate(), Error);
  EXPECT_NO_THROW(mix_config(0.0, {}).validate());
  try {
    eval::check_synthetic_tasks({"niah_single_1", "niah_bogus"});
    ADD_FAILURE() << "accepted an unknown task";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("unknown task \"niah_bogus\""), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos);
  }
  EXPECT_NO_THROW(eval::check_synthetic_tasks(eval::default_synthetic_tasks()));
  EXPECT_EQ(eval::default_synthetic_tasks().size(), 4u);
}

// A small training corpus in a temp dir: prose files, a package file that copies a passage of
// the (fake) evaluation haystack, and a common-licenses folder inside the root.
struct MixFixture {
  test::TempDir dir;
  std::string licenses;  // the fake evaluation haystack file
  Corpus corpus;
  Tokenizer tok = Tokenizer::from_hf_json(test::fixture("tokenizer/smollm2_tokenizer.json"));
  std::vector<int32_t> ids;

  // A sentence no training file has.
  static std::string license_sentence(int i) {
    return "Quuxwell licensees shall frobnicate the covenant number " + std::to_string(i) +
           " without any zorbling of the derivative artefacts whatsoever. ";
  }

  MixFixture() {
    const std::string prose = read_file(test::fixture("text/prose.txt"));
    std::string lic;
    for (int i = 0; i < 200; ++i) lic += license_sentence(i);
    licenses = dir.file("eval-licenses.txt");
    write_file_atomic(licenses, lic);
    const fs::path root = dir.path() / "doc";
    for (const char* pkg : {"alpha", "beta", "gamma", "delta", "omega"}) {
      fs::create_directories(root / pkg);
      std::string body;
      for (int r = 0; r < 4; ++r)
        body += std::string(pkg) + " part " + std::to_string(r) + ". " + prose;
      write_file_atomic((root / pkg / "README").string(), body);
    }
    fs::create_directories(root / "copier");
    write_file_atomic((root / "copier" / "LICENSE.txt").string(),
                      prose + lic.substr(0, 2000) + prose);
    fs::create_directories(root / "common-licenses");
    write_file_atomic((root / "common-licenses" / "FAKE.txt").string(), lic);
    CorpusOptions o;
    o.roots = {root.string()};
    o.heldout_every = 1000003;  // (almost surely) nothing held out
    corpus = load_corpus(o);
    ids = corpus_tokens(tok, corpus.train_text);
  }

  eval::HaystackShards shards(int64_t min_bytes = 8000) const {
    return eval::make_haystack_shards(corpus.train_files, min_bytes,
                                      eval::TextFingerprint({licenses}));
  }
};

TEST(IndexerSynthetic, WindowHasSeqLenTokensThePromptTheNeedlesAndTheAnswer) {
  MixFixture fx;
  std::vector<std::string> tasks = {"niah_single_1",   "niah_single_2",   "niah_single_3",
                                    "niah_multikey_1", "niah_multikey_2", "niah_multivalue",
                                    "niah_multiquery"};
  // Variable tracking's one-shot example alone takes 500 tokens: too long for 384, one line.
  tasks.push_back("vt");
  try {
    eval::SyntheticWindows(mix_config(0.5, tasks, 384), fx.ids, fx.tok, fx.shards()).check();
    ADD_FAILURE() << "vt fitted 384 tokens";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("windows of 384 tokens"), std::string::npos) << m;
    EXPECT_NE(m.find("vt"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
  for (const int64_t seq_len : {int64_t(384), int64_t(1000)}) {
    if (seq_len == 384) tasks.pop_back();
    if (seq_len == 1000) tasks.push_back("vt");
    const TrainConfig c = mix_config(0.5, tasks, seq_len);
    const eval::SyntheticWindows mix(c, fx.ids, fx.tok, fx.shards());
    EXPECT_NO_THROW(mix.check());
    std::set<std::string> seen;
    for (int64_t s = 0; s < 40; ++s) {
      std::vector<int32_t> ids;
      mix.window(s, ids);
      ASSERT_EQ(int64_t(ids.size()), seq_len) << "step " << s;
      if (!synthetic_step(c, s)) {
        std::vector<int32_t> text;
        TextWindows(c, fx.ids).window(s, text);
        EXPECT_EQ(ids, text) << "step " << s;
        EXPECT_EQ(mix.kind(s), "text");
        continue;
      }
      const eval::SyntheticWindow w = mix.synthetic(s);
      EXPECT_EQ(w.ids, ids) << "step " << s;  // deterministic
      EXPECT_EQ(mix.kind(s), w.sample.task);
      seen.insert(w.sample.task);
      EXPECT_EQ(w.sample.index, s);
      EXPECT_EQ(w.prompt_tokens + w.answer_tokens + w.pad_tokens, seq_len);
      EXPECT_GE(w.pad_tokens, 0);
      EXPECT_LE(w.pad_tokens, eval::kAnswerReserve + seq_len / 20) << w.sample.task;
      // The prompt as evaluation feeds it, at position 0.
      const std::vector<int32_t> prompt = fx.tok.encode(w.sample.input, false, true);
      ASSERT_EQ(int64_t(prompt.size()), w.prompt_tokens);
      EXPECT_TRUE(std::equal(prompt.begin(), prompt.end(), ids.begin()));
      EXPECT_EQ(w.sample.input.rfind("<|im_start|>", 0), 0u) << w.sample.input.substr(0, 80);
      // Then the answer's tokens, which hold every needle value.
      const std::vector<int32_t> answer =
          fx.tok.encode(eval::synthetic_answer(w.sample), false, false);
      ASSERT_EQ(int64_t(answer.size()), w.answer_tokens);
      EXPECT_TRUE(std::equal(answer.begin(), answer.end(), ids.begin() + w.prompt_tokens));
      const std::string prompt_text = fx.tok.decode({ids.begin(), ids.begin() + w.prompt_tokens});
      const std::string answer_text = fx.tok.decode(
          {ids.begin() + w.prompt_tokens, ids.begin() + w.prompt_tokens + w.answer_tokens});
      ASSERT_FALSE(w.sample.outputs.empty());
      for (const std::string& v : w.sample.outputs) {
        EXPECT_NE(answer_text.find(v), std::string::npos) << v;
        EXPECT_NE(prompt_text.find(v), std::string::npos) << v << " not in the haystack";
      }
      // The value's own tokens (after the space that precedes it) occur in the window before the
      // answer: the needle.
      const std::vector<int32_t> needle = fx.tok.encode(" " + w.sample.outputs[0], false, false);
      EXPECT_NE(
          std::search(ids.begin(), ids.begin() + w.prompt_tokens, needle.begin(), needle.end()),
          ids.begin() + w.prompt_tokens)
          << w.sample.outputs[0];
    }
    EXPECT_GE(seen.size(), 4u);
  }
}

TEST(IndexerSynthetic, HaystackNeverHasEvaluationText) {
  MixFixture fx;
  const eval::HaystackShards h = fx.shards();
  // The copier's file (it repeats the evaluation text) and the common-licenses folder are out.
  EXPECT_EQ(h.dropped, 1);
  EXPECT_EQ(h.files, 5);
  EXPECT_GE(h.shards.size(), 2u);
  for (const auto& shard : h.shards)
    for (const std::string& f : shard) {
      EXPECT_EQ(f.find("common-licenses"), std::string::npos) << f;
      EXPECT_EQ(f.find("copier"), std::string::npos) << f;
    }
  EXPECT_NE(h.describe().find("1 left out"), std::string::npos) << h.describe();
  // Without the fingerprint the copier's file would be in.
  EXPECT_EQ(
      eval::make_haystack_shards(fx.corpus.train_files, 8000, eval::TextFingerprint({})).files, 6);

  const eval::TextFingerprint fake({fx.licenses});
  const eval::TextFingerprint real(eval::evaluation_haystack_files());
  EXPECT_GT(fake.grams(), 1000u);
  EXPECT_TRUE(fake.shares_text(read_file(fx.licenses).substr(500, 400)));
  const std::vector<std::string> tasks = {"niah_single_2", "niah_multikey_1", "niah_multivalue"};
  const TrainConfig c = mix_config(1.0, tasks, 640);
  const eval::SyntheticWindows mix(c, fx.ids, fx.tok, h);
  std::set<size_t> shards;
  for (int64_t s = 0; s < 24; ++s) {
    const eval::SyntheticWindow w = mix.synthetic(s);
    shards.insert(w.shard);
    EXPECT_FALSE(fake.shares_text(w.sample.input)) << "step " << s;
    EXPECT_EQ(w.sample.input.find("Quuxwell"), std::string::npos) << "step " << s;
    EXPECT_FALSE(real.shares_text(w.sample.input)) << "step " << s;
    // The haystack is training text: the prose of the fixture.
    EXPECT_NE(w.sample.input.find(" part "), std::string::npos) << "step " << s;
  }
  EXPECT_GE(shards.size(), 2u);
}

TEST(IndexerSynthetic, SeedsDifferFromEverySeedOfTheRepoSweeps) {
  // Every sweep config in the repo and the per-sample seeds its samples use.
  std::vector<std::string> configs;
  for (const char* dir : {"docs/results", "fuzz/corpus"})
    for (const auto& e : fs::recursive_directory_iterator(fs::path(SPF_SOURCE_DIR) / dir)) {
      const std::string name = e.path().filename().string();
      if (e.is_regular_file() && name.starts_with("sweep") && name.ends_with(".json"))
        configs.push_back(e.path().string());
    }
  ASSERT_GE(configs.size(), 8u);
  std::set<uint64_t> base, eval_seeds;
  for (const std::string& p : configs) {
    const eval::SweepConfig cfg = eval::load_sweep_config(p);
    base.insert(cfg.seed);
    for (const std::string& task : cfg.tasks)
      for (int64_t i = 0; i < std::max<int64_t>(cfg.samples, 1000); ++i)
        eval_seeds.insert(eval::sample_seed(cfg.seed, task, i));
  }
  EXPECT_TRUE(base.count(42));
  // The CLI's default eval seed too, and small seeds anyone might pass.
  for (uint64_t s = 0; s < 64; ++s) base.insert(s);
  const std::vector<std::string> tasks = eval::default_synthetic_tasks();
  for (const uint64_t seed : {uint64_t(0), uint64_t(1), uint64_t(5), uint64_t(42)}) {
    TrainConfig c = mix_config(1.0, tasks);
    c.seed = seed;
    const uint64_t b = eval::synthetic_base_seed(seed);
    EXPECT_GE(b, uint64_t(1) << 63);
    EXPECT_FALSE(base.count(b));
    for (int64_t s = 0; s < 5000; ++s) {
      const uint64_t ss = eval::synthetic_sample_seed(c, s);
      EXPECT_FALSE(eval_seeds.count(ss)) << "seed " << seed << " step " << s;
      EXPECT_EQ(ss, eval::sample_seed(b, tasks[synthetic_task(c, s)], s));
    }
  }
}

}  // namespace
}  // namespace spf
