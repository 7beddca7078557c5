// spf tokenize: text -> token ids (and pieces), with or without the chat template.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "cli/common.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace spf::cli {

namespace {
struct TokenizeOptions {
  std::string model, text, file;
  bool chat = false, pieces = false, count = false;
};

void run_tokenize(const TokenizeOptions& o) {
  SPF_CHECK(o.text.empty() != o.file.empty(), "give exactly one of --text and --file");
  const std::string path = resolve_model(o.model);
  Tokenizer tok = Tokenizer::load_for_model(path);
  std::string text = o.file.empty() ? o.text : read_file(o.file);
  if (o.chat) {
    std::vector<ChatMessage> msgs;
    const std::string sys = default_system_prompt(tok.chat_template());
    if (!sys.empty()) msgs.push_back({"system", sys});
    msgs.push_back({"user", text});
    text = apply_chatml(msgs, "", true);
  }
  const std::vector<int32_t> ids = tok.encode(text, false, o.chat);
  if (o.count) {
    std::printf("%zu\n", ids.size());
    return;
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    if (o.pieces) {
      std::printf("%d\t%s\n", ids[i], tok.decode({ids[i]}).c_str());
    } else {
      std::printf(i ? ",%d" : "%d", ids[i]);
    }
  }
  if (!o.pieces) std::printf("\n");
}
}  // namespace

void add_tokenize(CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  CLI::App* sub = app.add_subcommand("tokenize", "Print the token ids of a text");
  sub->add_option("-m,--model", o->model,
                  "GGUF file or HF checkpoint directory (default: SmolLM2)");
  sub->add_option("--text", o->text, "Text to tokenize");
  sub->add_option("--file", o->file, "Read the text from a file");
  sub->add_flag("--chat", o->chat, "Wrap the text as a user message in the chat template");
  sub->add_flag("--pieces", o->pieces, "One line per token: id and its text");
  sub->add_flag("--count", o->count, "Print only the number of tokens");
  sub->callback([o] { run_tokenize(*o); });
}

}  // namespace spf::cli
