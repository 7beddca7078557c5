// Synthetic long-context windows for the indexer trainer (train-indexer --synthetic): the steps
// that synthetic_step() (indexer/trainer.h) picks train on one sample of a built-in RULER-style
// task (eval/task_generator.h) instead of a text window. This module sits in eval because it
// uses the task generators; the trainer sees it only as a TrainWindows.
//
// A synthetic window of step s, a pure function of (config, s, training text):
//  - task: config.synthetic_tasks[synthetic_task(config, s)];
//  - haystack (the essay of the niah tasks): one shard of the *training* split's files, picked by
//    step_draw(); files that repeat any 12-word run of the evaluation haystack (the license texts
//    of common-licenses) are left out, so no evaluation text is trained on even where a package
//    ships a copy of a license under another name;
//  - seed: sample index s under a base seed that no evaluation sweep uses (synthetic_base_seed);
//  - tokens: the prompt through the model's chat format, exactly as evaluation feeds it (it starts
//    at position 0 and ends with the answer prefix), then the reference answer as the model would
//    write it, so the answer's queries attend back to the needle; then text tokens of the
//    training split up to seq_len. The prompt is sized to leave room for the answer
//    (kAnswerReserve tokens, fewer for tasks that generate fewer) and shrunk if the answer does
//    not fit, so nothing of the prompt or the answer is ever cut; the padding goes after the
//    answer, keeping the prompt's positions those of evaluation, and is natural text rather than
//    a repeated pad token so its queries still carry ordinary attention targets. It is short: the
//    unused part of the reserve plus the length fit's slack (within 2% of the target).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "eval/sample.h"
#include "indexer/trainer.h"

namespace spf {
class Tokenizer;
}

namespace spf::eval {

// The default --synthetic-tasks: the task families of the repo's sweeps (docs/results/*/sweep-*).
inline constexpr const char* kDefaultSyntheticTasks =
    "niah_single_1,niah_single_2,niah_multikey_1,niah_multivalue";
std::vector<std::string> default_synthetic_tasks();  // kDefaultSyntheticTasks as a list
// Tokens kept free after the prompt for the answer.
inline constexpr int64_t kAnswerReserve = 64;

// Checks that every name is a built-in task; throws one spf::Error line naming the bad one.
void check_synthetic_tasks(const std::vector<std::string>& tasks);

// The base seed of the synthetic samples of a run with this --seed. Sweeps derive per-sample
// seeds sample_seed(S, task, i) from their base seed S (42 in every config of the repo, and in
// general a small non-negative integer from a config or --seed); the trainer uses
// sample_seed(B, task, step) with B = a hash of (domain tag, seed) with bit 63 set. For a given
// task and index, sample_seed is a bijection of the base seed (derive_seed applies the bijective
// mix64 to the base seed xor a value of the other arguments), so a training sample's seed equals
// an evaluation sample's of the same task and index only if B == S, which bit 63 rules out for
// every S < 2^63. Samples of other (task, index) pairs are other samples anyway.
uint64_t synthetic_base_seed(uint64_t train_seed);
// The per-sample seed of step s (what TaskGenerator derives from the base seed, task and index).
uint64_t synthetic_sample_seed(const TrainConfig& c, int64_t step);

// Whether a text repeats any run of kWords whitespace-separated words of the given files.
class TextFingerprint {
 public:
  static constexpr int kWords = 12;
  // Files that do not exist are skipped (none given: shares_text() is always false).
  explicit TextFingerprint(const std::vector<std::string>& paths);
  bool shares_text(std::string_view text) const;
  size_t grams() const { return grams_.size(); }

 private:
  std::unordered_set<uint64_t> grams_;
};

// The evaluation haystack: every file of /usr/share/common-licenses and the default essay files
// of eval/text_sources.h (those present).
std::vector<std::string> evaluation_haystack_files();

// The training files grouped into haystack shards: consecutive files (in the given order) of at
// least min_bytes each (the last one joins its predecessor when short; a split smaller than
// min_bytes is one shard).
struct HaystackShards {
  std::vector<std::vector<std::string>> shards;
  int64_t files = 0;    // training files in the shards
  int64_t dropped = 0;  // left out: path under common-licenses or text shared with `forbidden`
  // "S shards of F training files (D left out ...), hash H": recorded in the training config.
  std::string describe() const;
};
// Throws spf::Error when no file is left.
HaystackShards make_haystack_shards(const std::vector<std::string>& train_files, int64_t min_bytes,
                                    const TextFingerprint& forbidden);
// The shard size for windows of seq_len tokens: twice the text a seq_len haystack needs at ~4
// bytes a token, at least 16 KiB, so that a shard's essay rarely repeats.
int64_t haystack_shard_bytes(int64_t seq_len);

// One synthetic window and how it was made.
struct SyntheticWindow {
  std::vector<int32_t> ids;  // exactly seq_len tokens
  Sample sample;
  size_t shard = 0;
  int64_t prompt_tokens = 0, answer_tokens = 0, pad_tokens = 0;
};

// The answer as the model writes it after the sample's answer prefix: " v1, v2." (variable
// tracking: " A B C", its one-shot example's form).
std::string synthetic_answer(const Sample& s);

// Text windows mixed with synthetic ones. `text_ids` (the training split's tokens) and `tok` must
// outlive the source. Not thread-safe.
class SyntheticWindows final : public TrainWindows {
 public:
  SyntheticWindows(const TrainConfig& c, std::span<const int32_t> text_ids, const Tokenizer& tok,
                   HaystackShards haystacks);
  void window(int64_t step, std::vector<int32_t>& ids) const override;
  // The synthetic window of step s (whether or not synthetic_step picks it).
  SyntheticWindow synthetic(int64_t step) const;
  // "text" or the task of step s.
  std::string kind(int64_t step) const;
  // One window of every task at seq_len: throws (naming the task) when one does not fit.
  void check() const;

 private:
  SyntheticWindow make(int64_t step, const std::string& task) const;

  TrainConfig c_;
  TextWindows text_;
  const Tokenizer& tok_;
  PromptFormat format_;
  HaystackShards haystacks_;
  uint64_t base_seed_;
};

}  // namespace spf::eval
