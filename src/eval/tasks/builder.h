// What every synthetic task generator provides: a PromptBuilder holds one sample's random choices
// (keys, values, needle order, ...) and renders the prompt for any haystack size, so that the
// length search can try sizes without redrawing them. Plus the small pieces the tasks share.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "eval/rng.h"
#include "eval/sample.h"
#include "eval/text_sources.h"

namespace spf::eval {

struct BuiltPrompt {
  std::string input;                    // wrapped prompt + answer prefix
  std::string answer_prefix;            // the tail of input
  std::vector<int64_t> answer_offsets;  // parallel to the builder's outputs
};

class PromptBuilder {
 public:
  virtual ~PromptBuilder() = default;
  virtual BuiltPrompt build(int64_t units) const = 0;
  virtual int64_t min_units() const { return 0; }
  virtual int64_t max_units() const { return int64_t(1) << 40; }
  const std::vector<std::string>& outputs() const { return outputs_; }

 protected:
  std::vector<std::string> outputs_;
};

// Everything a builder needs besides its seed.
struct TaskContext {
  const ChatWrapper* wrap = nullptr;  // may hold an empty function
  const TextSources* text = nullptr;
  int64_t target_tokens = 0;
  int64_t vt_example_lines = 0;  // noise lines of the variable-tracking one-shot example
};

// The user text through the chat wrapper, and where the user text starts inside the result.
struct Wrapped {
  std::string text;
  int64_t user_offset = 0;
};
Wrapped wrap_user(const ChatWrapper& wrap, const std::string& user);

// RULER's noise line (niah "noise" haystack and variable tracking).
inline constexpr const char* kNoiseSentence =
    "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";

std::string random_word_pair(Rng& rng, const std::vector<std::string>& words);  // "word-word"
std::string random_uuid4(Rng& rng);
std::string random_number7(Rng& rng);  // 1000000..9999999
// "a", "a, and b", "a, b, and c" (RULER's join of the queried keys).
std::string join_query(const std::vector<std::string>& keys);

// Places `needles` among `n_fill` filler lines at distinct random line indexes (sorted, needles in
// their given order), joined by '\n'. Returns the text and each needle's start offset.
struct Lines {
  std::string text;
  std::vector<int64_t> needle_offsets;
};
Lines place_lines(const std::vector<std::string>& needles, int64_t n_fill,
                  const std::function<const std::string&(int64_t)>& filler, uint64_t position_seed);

}  // namespace spf::eval
