// Added (special and user-defined) tokens are cut out of the text before pre-tokenization: at each
// position the longest token that starts there wins, scanning left to right (HF's leftmost-longest
// matching). lstrip/rstrip tokens also swallow the whitespace before/after them.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace spf {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
};

class AddedTokenMatcher {
 public:
  struct Segment {
    std::string_view text;  // plain text to pre-tokenize, when id < 0
    int32_t id = -1;        // a matched added token
  };

  void add(const AddedToken& tok);
  bool empty() const { return tokens_.empty(); }
  // parse_special = false leaves special tokens as plain text (user-defined ones still match).
  void split(std::string_view text, bool parse_special, std::vector<Segment>& out) const;

 private:
  std::vector<AddedToken> tokens_;
  std::array<std::vector<uint32_t>, 256> by_first_byte_;  // indices into tokens_, longest first
};

// Unicode White_Space (what Rust's char::is_whitespace tests).
bool is_white_space(uint32_t cp);

}  // namespace spf
