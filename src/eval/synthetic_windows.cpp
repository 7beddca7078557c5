#include "eval/synthetic_windows.h"

#include <algorithm>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "eval/model_runner.h"
#include "eval/rng.h"
#include "eval/task_generator.h"
#include "eval/tasks/registry.h"
#include "eval/text_sources.h"
#include "tokenizer/tokenizer.h"

namespace spf::eval {

namespace {

namespace fs = std::filesystem;

constexpr uint64_t kSeedTag = 0x696478746E737973ull;  // the domain of training samples

// Hashes of every run of kWords consecutive words of `text`.
template <class F>
void for_each_gram(std::string_view text, F&& f) {
  const std::vector<std::string> words = split_words(text);
  const size_t n = size_t(TextFingerprint::kWords);
  if (words.size() < n) return;
  std::vector<uint64_t> h(words.size());
  for (size_t i = 0; i < words.size(); ++i) h[i] = hash64(words[i]);
  for (size_t i = 0; i + n <= words.size(); ++i) {
    uint64_t g = 0;
    for (size_t j = 0; j < n; ++j) g = derive_seed(g, h[i + j]);
    if (f(g)) return;
  }
}

}  // namespace

std::vector<std::string> default_synthetic_tasks() {
  std::vector<std::string> tasks;
  const std::string_view list = kDefaultSyntheticTasks;
  size_t i = 0;
  while (i <= list.size()) {
    const size_t j = std::min(list.find(',', i), list.size());
    tasks.emplace_back(list.substr(i, j - i));
    i = j + 1;
  }
  return tasks;
}

void check_synthetic_tasks(const std::vector<std::string>& tasks) {
  SPF_CHECK(!tasks.empty(),
            "--synthetic-tasks: no task given (built-in tasks: ", builtin_task_list(), ")");
  for (const std::string& t : tasks)
    SPF_CHECK(find_builtin_task(t) != nullptr, "--synthetic-tasks: unknown task \"", t,
              "\" (built-in tasks: ", builtin_task_list(), ")");
}

uint64_t synthetic_base_seed(uint64_t train_seed) {
  return derive_seed(kSeedTag, train_seed) | (uint64_t(1) << 63);
}

uint64_t synthetic_sample_seed(const TrainConfig& c, int64_t step) {
  const std::string& task = c.synthetic_tasks[synthetic_task(c, step)];
  return sample_seed(synthetic_base_seed(c.seed), task, step);
}

TextFingerprint::TextFingerprint(const std::vector<std::string>& paths) {
  for (const std::string& p : paths) {
    if (!fs::is_regular_file(p)) continue;
    for_each_gram(read_file(p), [&](uint64_t g) {
      grams_.insert(g);
      return false;
    });
  }
}

bool TextFingerprint::shares_text(std::string_view text) const {
  if (grams_.empty()) return false;
  bool found = false;
  for_each_gram(text, [&](uint64_t g) { return found = grams_.count(g) != 0; });
  return found;
}

std::vector<std::string> evaluation_haystack_files() {
  std::vector<std::string> files = TextSources::default_essay_paths();
  const std::string dir = "/usr/share/common-licenses";
  std::error_code ec;
  if (fs::is_directory(dir, ec))
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.is_regular_file(ec)) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return files;
}

std::string HaystackShards::describe() const {
  std::string all;
  for (const auto& s : shards) {
    for (const std::string& f : s) all += f + "\n";
    all += "\n";
  }
  return cat(shards.size(), " haystack shards of ", files, " training files (", dropped,
             " left out: text shared with the evaluation haystack), hash ", hash64(all));
}

HaystackShards make_haystack_shards(const std::vector<std::string>& train_files, int64_t min_bytes,
                                    const TextFingerprint& forbidden) {
  SPF_CHECK(min_bytes >= 1, "haystack shards: min_bytes must be >= 1");
  HaystackShards h;
  std::vector<std::string> shard;
  int64_t bytes = 0;
  for (const std::string& f : train_files) {
    if (f.find("common-licenses") != std::string::npos) {
      ++h.dropped;
      continue;
    }
    const std::string text = read_file(f);
    if (forbidden.shares_text(text)) {
      ++h.dropped;
      continue;
    }
    shard.push_back(f);
    bytes += int64_t(text.size());
    ++h.files;
    if (bytes >= min_bytes) {
      h.shards.push_back(std::move(shard));
      shard.clear();
      bytes = 0;
    }
  }
  if (!shard.empty()) {
    if (h.shards.empty()) {
      h.shards.push_back(std::move(shard));
    } else {
      auto& last = h.shards.back();
      last.insert(last.end(), shard.begin(), shard.end());
    }
  }
  SPF_CHECK(!h.shards.empty(), "--synthetic: no training file is left for the haystack (",
            h.dropped, " share text with the evaluation haystack)");
  return h;
}

int64_t haystack_shard_bytes(int64_t seq_len) {
  return std::max<int64_t>(16384, 8 * seq_len);
}

std::string synthetic_answer(const Sample& s) {
  const bool vt = s.task == "vt";
  std::string a;
  for (size_t i = 0; i < s.outputs.size(); ++i) a += (i ? (vt ? " " : ", ") : " ") + s.outputs[i];
  return vt ? a : a + ".";
}

SyntheticWindows::SyntheticWindows(const TrainConfig& c, std::span<const int32_t> text_ids,
                                   const Tokenizer& tok, HaystackShards haystacks)
    : c_(c),
      text_(c, text_ids),
      tok_(tok),
      format_(chat_prompt_format(tok)),
      haystacks_(std::move(haystacks)),
      base_seed_(synthetic_base_seed(c.seed)) {
  c_.validate();
  check_synthetic_tasks(c_.synthetic_tasks);
  SPF_CHECK(!haystacks_.shards.empty(), "--synthetic: no haystack shards");
}

std::string SyntheticWindows::kind(int64_t step) const {
  return synthetic_step(c_, step) ? c_.synthetic_tasks[synthetic_task(c_, step)] : "text";
}

void SyntheticWindows::window(int64_t step, std::vector<int32_t>& ids) const {
  if (!synthetic_step(c_, step)) {
    text_.window(step, ids);
    return;
  }
  ids = synthetic(step).ids;
}

SyntheticWindow SyntheticWindows::synthetic(int64_t step) const {
  return make(step, c_.synthetic_tasks[synthetic_task(c_, step)]);
}

void SyntheticWindows::check() const {
  for (const std::string& t : c_.synthetic_tasks) (void)make(0, t);
}

SyntheticWindow SyntheticWindows::make(int64_t step, const std::string& task) const {
  const TaskInfo* info = find_builtin_task(task);
  SPF_CHECK(info != nullptr, "--synthetic-tasks: unknown task \"", task, "\"");
  SyntheticWindow w;
  w.shard = size_t(step_draw(c_, step, haystacks_.shards.size()));
  TextSources text;
  text.essay_paths = haystacks_.shards[w.shard];
  // A generator per window: its calibration belongs to this shard's text.
  TaskGenerator gen(format_, text);
  const int64_t n = c_.seq_len;
  int64_t room = n - std::min(kAnswerReserve, info->tokens_to_generate);  // prompt tokens at most
  std::vector<int32_t> prompt, answer;
  for (int attempt = 0;; ++attempt) {
    SPF_CHECK(room > 0 && attempt < 4, "--synthetic: task ", task, " does not fit windows of ", n,
              " tokens with its answer");
    try {
      w.sample = gen.generate(task, room + info->tokens_to_generate, step, base_seed_);
    } catch (const Error& e) {
      fail("--synthetic: windows of ", n, " tokens (--seq-len): ", e.what());
    }
    prompt = tok_.encode(w.sample.input, false, true);
    answer = tok_.encode(synthetic_answer(w.sample), false, false);
    const int64_t used = int64_t(prompt.size() + answer.size());
    if (used <= n) break;
    room -= used - n;  // the answer took more than the reserve: a smaller haystack
  }
  w.prompt_tokens = int64_t(prompt.size());
  w.answer_tokens = int64_t(answer.size());
  w.pad_tokens = n - w.prompt_tokens - w.answer_tokens;
  w.ids = std::move(prompt);
  w.ids.insert(w.ids.end(), answer.begin(), answer.end());
  std::vector<int32_t> pad;
  text_.window(step, pad);
  w.ids.insert(w.ids.end(), pad.begin(), pad.begin() + w.pad_tokens);
  return w;
}

}  // namespace spf::eval
