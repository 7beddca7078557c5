// Token counters and a chat wrapper for the eval tests: the generators only need *a* counter.
#pragma once

#include <cstdint>
#include <string>

#include "eval/sample.h"

namespace spf::eval::test {

inline int64_t bytes_over_4(const std::string& s) {
  return int64_t((s.size() + 3) / 4);
}

inline int64_t word_count(const std::string& s) {
  int64_t n = 0;
  bool in_word = false;
  for (const char c : s) {
    const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    n += !space && !in_word;
    in_word = !space;
  }
  return n;
}

inline std::string chatml(const std::string& user) {
  return "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\n" + user +
         "<|im_end|>\n<|im_start|>assistant\n";
}

inline PromptFormat bytes_format() {
  return {bytes_over_4, chatml};
}

}  // namespace spf::eval::test
