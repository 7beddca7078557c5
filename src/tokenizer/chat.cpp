// ChatML prompt rendering and the default system message read from a model's Jinja chat template.
#include <string>

#include "tokenizer/tokenizer.h"

namespace spf {
namespace {

constexpr std::string_view kSystemHead = "<|im_start|>system";
constexpr std::string_view kEnd = "<|im_end|>";

// Undoes Jinja string-literal escapes (\n, \t, \\, \', \").
std::string unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      const char e = s[++i];
      out += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

std::string apply_chatml(const std::vector<ChatMessage>& messages,
                         const std::string& default_system, bool add_generation_prompt) {
  std::string out;
  if (!messages.empty() && messages.front().role != "system" && !default_system.empty()) {
    out += "<|im_start|>system\n" + default_system + "<|im_end|>\n";
  }
  for (const ChatMessage& m : messages)
    out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

// A template inserts a default system message when one string literal holds the whole system turn:
// '<|im_start|>system\n...text...<|im_end|>'. Templates that splice in messages[0].content end the
// literal right after the header, so they yield nothing.
std::string default_system_prompt(const std::string& chat_template) {
  const std::string_view t = chat_template;
  for (size_t pos = t.find(kSystemHead); pos != std::string_view::npos;
       pos = t.find(kSystemHead, pos + 1)) {
    if (pos == 0) continue;
    const char quote = t[pos - 1];
    if (quote != '\'' && quote != '"') continue;
    size_t body = pos + kSystemHead.size();
    if (t.substr(body, 1) == "\n") {
      body += 1;
    } else if (t.substr(body, 2) == "\\n") {
      body += 2;
    } else {
      continue;
    }
    const size_t end = t.find(kEnd, body);
    if (end == std::string_view::npos) continue;
    const std::string_view raw = t.substr(body, end - body);
    bool literal = !raw.empty();
    for (size_t i = 0; i < raw.size() && literal; ++i) {
      if (raw[i] == '\\') {
        ++i;  // escaped character, cannot close the literal
      } else if (raw[i] == quote || raw.substr(i, 2) == "{{" || raw.substr(i, 2) == "{%") {
        literal = false;
      }
    }
    if (literal) return unescape(raw);
  }
  return "";
}

}  // namespace spf
