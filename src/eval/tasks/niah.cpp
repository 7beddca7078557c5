#include "eval/tasks/niah.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.h"

namespace spf::eval {

namespace {

const char* plural_type(NeedleKind k) {
  switch (k) {
    case NeedleKind::words:
      return "words";
    case NeedleKind::numbers:
      return "numbers";
    case NeedleKind::uuids:
      return "uuids";
  }
  return "";
}

class NiahBuilder final : public PromptBuilder {
 public:
  NiahBuilder(const NiahSpec& spec, uint64_t seed, const TaskContext& ctx)
      : spec_(spec), seed_(seed), ctx_(ctx) {
    const bool need_words = spec.key == NeedleKind::words || spec.value == NeedleKind::words;
    if (need_words) words_ = &load_word_list(ctx.text->words_path);
    if (spec.haystack == Haystack::essay) essay_ = &load_essay(ctx.text->essay_paths);
    type_ = plural_type(spec.value);

    Rng rng(derive_seed(seed, 1));
    const int k = std::max(spec.num_keys, spec.num_queries);
    std::set<std::string> used;
    for (int i = 0; i < k; ++i) {
      std::string key;
      do key = draw(spec.key, rng);
      while (!used.insert(key).second);
      keys_.push_back(key);
    }
    std::vector<std::vector<std::string>> values(static_cast<size_t>(k));
    for (int i = 0; i < k; ++i)
      for (int j = 0; j < spec.num_values; ++j) {
        std::string value;
        do value = draw(spec.value, rng);
        while (!used.insert(value).second);
        values[size_t(i)].push_back(value);
      }
    for (int i = 0; i < k; ++i)
      for (int j = 0; j < spec.num_values; ++j)
        needles_.push_back({i, values[size_t(i)][size_t(j)]});
    rng.shuffle(needles_);
    for (const Needle& n : needles_)
      needle_text_.push_back(needle_sentence(keys_[size_t(n.key)], n.value));

    std::vector<std::string> queried;
    for (const int64_t qi : rng.distinct(k, spec.num_queries)) {
      queried.push_back(keys_[size_t(qi)]);
      for (const std::string& v : values[size_t(qi)]) outputs_.push_back(v);
    }
    query_ = join_query(queried);
    banned_ = used;

    if (spec.haystack == Haystack::essay) {
      // Depths in percent: 40 evenly spaced points of [0, 100], rounded, drawn without replacement.
      SPF_CHECK(needles_.size() <= 40, "niah: at most 40 needles fit the essay depths");
      Rng pos(derive_seed(seed, 2));
      for (const int64_t d : pos.distinct(40, int64_t(needles_.size())))
        depths_.push_back(std::round(double(d) * 100.0 / 39.0));
      std::sort(depths_.begin(), depths_.end());
    }

    const bool singular = spec.num_queries * spec.num_values == 1;
    const std::string t =
        singular ? std::string(type_).substr(0, std::string(type_).size() - 1) : std::string(type_);
    if (singular) {
      head_ = "A special magic " + t +
              " is hidden within the following text. Make sure to memorize "
              "it. I will quiz you about the " +
              t + " afterwards.\n";
      tail_ = "\nWhat is the special magic " + t + " for " + query_ +
              " mentioned in the provided text?";
      prefix_ = " The special magic " + t + " for " + query_ + " mentioned in the provided text is";
    } else {
      head_ = "Some special magic " + t +
              " are hidden within the following text. Make sure to "
              "memorize it. I will quiz you about the " +
              t + " afterwards.\n";
      tail_ = "\nWhat are all the special magic " + t + " for " + query_ +
              " mentioned in the provided text?";
      prefix_ =
          " The special magic " + t + " for " + query_ + " mentioned in the provided text are";
    }
  }

  BuiltPrompt build(int64_t units) const override {
    std::vector<int64_t> needle_at;  // needle start offsets in the context, in needles_ order
    std::string context;
    if (spec_.haystack == Haystack::essay) {
      context = essay_context(units, needle_at);
    } else {
      std::function<const std::string&(int64_t)> filler;
      static const std::string noise = kNoiseSentence;
      if (spec_.haystack == Haystack::noise) {
        filler = [](int64_t) -> const std::string& { return noise; };
      } else {
        extend_distractors(units);
        filler = [this](int64_t i) -> const std::string& { return distractors_[size_t(i)]; };
      }
      Lines lines = place_lines(needle_text_, units, filler, derive_seed(seed_, 3));
      context = std::move(lines.text);
      needle_at = std::move(lines.needle_offsets);
    }
    const Wrapped w = wrap_user(*ctx_.wrap, head_ + context + tail_);
    BuiltPrompt p{w.text + prefix_, prefix_, {}};
    const int64_t base = w.user_offset + int64_t(head_.size());
    // The gold value sits at the end of its needle sentence, before the final '.'.
    for (const std::string& out : outputs_) {
      for (size_t i = 0; i < needles_.size(); ++i) {
        if (needles_[i].value != out) continue;
        p.answer_offsets.push_back(base + needle_at[i] + int64_t(needle_text_[i].size()) -
                                   int64_t(out.size()) - 1);
      }
    }
    return p;
  }

 private:
  struct Needle {
    int key;
    std::string value;
  };

  std::string draw(NeedleKind kind, Rng& rng) const {
    switch (kind) {
      case NeedleKind::words:
        return random_word_pair(rng, *words_);
      case NeedleKind::numbers:
        return random_number7(rng);
      case NeedleKind::uuids:
        return random_uuid4(rng);
    }
    return {};
  }

  std::string needle_sentence(const std::string& key, const std::string& value) const {
    return "One of the special magic " + std::string(type_) + " for " + key + " is: " + value + ".";
  }

  // Distractors are drawn from their own stream, so the first n are the same for every size n.
  void extend_distractors(int64_t n) const {
    if (!distractor_rng_) distractor_rng_ = std::make_unique<Rng>(derive_seed(seed_, 4));
    while (int64_t(distractors_.size()) < n) {
      std::string key, value;
      do key = draw(spec_.key, *distractor_rng_);
      while (banned_.count(key));
      do value = draw(spec_.value, *distractor_rng_);
      while (banned_.count(value));
      distractors_.push_back(needle_sentence(key, value));
    }
  }

  // The first `units` essay words (the text repeats), sentence-split, with needle i inserted before
  // sentence floor(S * depth_i / 100); pieces joined by single spaces.
  std::string essay_context(int64_t units, std::vector<int64_t>& needle_at) const {
    const auto& words = essay_->words;
    const auto& ends = essay_->ends_sentence;
    const size_t W = words.size();
    int64_t sentences = 0;
    for (int64_t i = 0; i < units; ++i) sentences += ends[size_t(i) % W] || i + 1 == units;
    std::vector<int64_t> before(needles_.size());
    for (size_t j = 0; j < needles_.size(); ++j)
      before[j] = int64_t(std::floor(double(sentences) * depths_[j] / 100.0));
    std::string out;
    out.reserve(size_t(units) * 7 + needles_.size() * 80);
    needle_at.assign(needles_.size(), 0);
    size_t next = 0;
    int64_t sentence = 0;
    bool at_sentence_start = true;
    auto separate = [&] {
      if (!out.empty()) out.push_back(' ');
    };
    auto insert_needles_up_to = [&](int64_t boundary) {
      while (next < needles_.size() && before[next] <= boundary) {
        separate();
        needle_at[next] = int64_t(out.size());
        out += needle_text_[next++];
      }
    };
    for (int64_t i = 0; i < units; ++i) {
      if (at_sentence_start) insert_needles_up_to(sentence);
      separate();
      out += words[size_t(i) % W];
      at_sentence_start = ends[size_t(i) % W] || i + 1 == units;
      sentence += at_sentence_start;
    }
    insert_needles_up_to(sentences);
    return out;
  }

  NiahSpec spec_;
  uint64_t seed_;
  TaskContext ctx_;
  const std::vector<std::string>* words_ = nullptr;
  const EssayText* essay_ = nullptr;
  const char* type_ = "";
  std::vector<std::string> keys_;
  std::vector<Needle> needles_;
  std::vector<std::string> needle_text_;
  std::vector<double> depths_;
  std::set<std::string> banned_;
  std::string query_, head_, tail_, prefix_;
  mutable std::unique_ptr<Rng> distractor_rng_;
  mutable std::vector<std::string> distractors_;
};

}  // namespace

std::unique_ptr<PromptBuilder> make_niah_builder(const NiahSpec& spec, uint64_t seed,
                                                 const TaskContext& ctx) {
  return std::make_unique<NiahBuilder>(spec, seed, ctx);
}

}  // namespace spf::eval
