// ChatML rendering and default system prompts extracted from real template texts.
#include <gtest/gtest.h>

#include "tok_test_util.h"

namespace spf::test {
namespace {

// SmolLM2-Instruct's template as shipped in its GGUF (tokenizer.chat_template).
const std::string kSmolTemplate =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ "
    "'<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' "
    "+ '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

// Shapes of the Qwen templates: Qwen2.5 has an escaped default, Qwen3/3.5 splice messages[0] only.
const std::string kQwen25Like =
    "{%- if tools %}\n    {{- '<|im_start|>system\\n' }}\n    {%- if messages[0]['role'] == "
    "'system' %}\n"
    "        {{- messages[0]['content'] }}\n    {%- else %}\n        {{- 'You are Qwen, created by "
    "Alibaba Cloud. "
    "You are a helpful assistant.' }}\n    {%- endif %}\n{%- else %}\n    {%- if "
    "messages[0]['role'] == 'system' "
    "%}\n        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n    "
    "{%- else %}\n"
    "        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
    "assistant.<|im_end|>\\n' }}\n    {%- endif %}\n{%- endif %}";
const std::string kQwen3Like =
    "{%- if messages[0].role == 'system' %}\n        {{- '<|im_start|>system\\n' + "
    "messages[0].content + "
    "'<|im_end|>\\n\\n' }}\n{%- endif %}{%- for message in messages %}{{- '<|im_start|>' + "
    "message.role + '\\n' + "
    "content + '<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- "
    "'<|im_start|>assistant\\n' }}"
    "{%- endif %}";

TEST(Chat, DefaultSystemPrompt) {
  EXPECT_EQ(default_system_prompt(kSmolTemplate),
            "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  EXPECT_EQ(default_system_prompt(kQwen25Like),
            "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
  EXPECT_EQ(default_system_prompt(kQwen3Like), "");
  EXPECT_EQ(default_system_prompt(""), "");
  EXPECT_EQ(default_system_prompt("<|im_start|>system\nno quote<|im_end|>"), "");
}

TEST(Chat, ChatMlLayout) {
  const std::vector<ChatMessage> msgs = {{"user", "hi"}, {"assistant", "hello"}, {"user", "bye"}};
  EXPECT_EQ(apply_chatml(msgs, "SYS"),
            "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>"
            "assistant\nhello"
            "<|im_end|>\n<|im_start|>user\nbye<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(apply_chatml({{"system", "S"}, {"user", "u"}}, "SYS", false),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nu<|im_end|>\n");
  EXPECT_EQ(apply_chatml({{"user", "u"}}, "", true),
            "<|im_start|>user\nu<|im_end|>\n<|im_start|>assistant\n");
}

TEST(Chat, SmolLM2PromptMatchesHfTemplateIds) {
  const auto doc = read_json_fixture("tokenizer/smollm2_cases.json");
  const auto& chat = doc.at("chat");
  const Tokenizer& tok = smollm2_from_json();
  // tokenizer.json carries no template; use the GGUF's when the model is present.
  std::string tmpl = kSmolTemplate;
  if (const Tokenizer* g = smollm2_from_gguf()) {
    tmpl = g->chat_template();
    EXPECT_EQ(tmpl, kSmolTemplate);
  }
  const std::string prompt =
      apply_chatml({{"user", "What is the capital of France?"}}, default_system_prompt(tmpl));
  EXPECT_EQ(prompt, chat.at("text").get<std::string>());
  const auto ids = tok.encode(prompt);
  EXPECT_EQ(ids, chat.at("ids").get<std::vector<int32_t>>());
  ASSERT_EQ(ids.size(), 37u);
  EXPECT_EQ(
      std::vector<int32_t>(ids.begin(), ids.begin() + 12),
      (std::vector<int32_t>{1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308}));
}

}  // namespace
}  // namespace spf::test
