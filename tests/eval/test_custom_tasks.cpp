#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "eval/custom_tasks.h"
#include "test_util.h"

namespace spf::eval {
namespace {

TEST(EvalCustomTasks, LoadsSamplesInFileOrder) {
  spf::test::TempDir dir;
  const std::string path = dir.file("t.jsonl");
  write_file_atomic(
      path,
      "{\"id\": \"a\", \"input\": \"Q1?\", \"outputs\": [\"x\"], \"metric\": \"all\"}\n"
      "\n"
      "{\"id\": 7, \"input\": \"Q2?\", \"outputs\": [\"y\", \"z\"], \"metric\": \"part\", "
      "\"max_new_tokens\": 16, \"note\": \"ignored\"}");
  const auto s = load_custom_tasks(path, "custom:t.jsonl");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].id, "a");
  EXPECT_EQ(s[0].task, "custom:t.jsonl");
  EXPECT_EQ(s[0].index, 0);
  EXPECT_EQ(s[0].input, "Q1?");
  EXPECT_EQ(s[0].metric, Metric::all);
  EXPECT_EQ(s[0].max_new_tokens, kCustomDefaultMaxNewTokens);
  EXPECT_EQ(s[1].id, "7");
  EXPECT_EQ(s[1].index, 1);
  EXPECT_EQ(s[1].outputs, (std::vector<std::string>{"y", "z"}));
  EXPECT_EQ(s[1].metric, Metric::part);
  EXPECT_EQ(s[1].max_new_tokens, 16);
  EXPECT_EQ(s[1].answer_offsets, (std::vector<int64_t>{-1, -1}));
}

TEST(EvalCustomTasks, ChatTemplatePerLine) {
  spf::test::TempDir dir;
  const std::string path = dir.file("t.jsonl");
  write_file_atomic(path,
                    "{\"id\":1,\"input\":\"A\",\"outputs\":[\"x\"],\"metric\":\"all\"}\n"
                    "{\"id\":2,\"input\":\"B\",\"outputs\":[\"x\"],\"metric\":\"all\","
                    "\"chat_template\":\"none\"}\n"
                    "{\"id\":3,\"input\":\"C\",\"outputs\":[\"x\"],\"metric\":\"all\","
                    "\"chat_template\":\"auto\"}\n");
  const auto s = load_custom_tasks(path, "custom:t.jsonl");
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].chat_template, ChatTemplateMode::inherit);
  EXPECT_EQ(s[1].chat_template, ChatTemplateMode::none);
  EXPECT_EQ(s[2].chat_template, ChatTemplateMode::automatic);

  PromptFormat chat{nullptr, [](const std::string& u) { return "<" + u + ">"; }, true};
  bool applied = false;
  EXPECT_EQ(custom_prompt(s[0], chat, ChatTemplateMode::automatic, &applied).input, "<A>");
  EXPECT_TRUE(applied);
  EXPECT_EQ(custom_prompt(s[0], chat, ChatTemplateMode::none, &applied).input, "A");
  EXPECT_FALSE(applied);
  EXPECT_EQ(custom_prompt(s[1], chat, ChatTemplateMode::automatic).input, "B");
  EXPECT_EQ(custom_prompt(s[2], chat, ChatTemplateMode::none).input, "<C>");
  PromptFormat base = chat;
  base.has_chat_template = false;
  EXPECT_EQ(custom_prompt(s[2], base, ChatTemplateMode::automatic).input, "C");
}

// The error for a file whose third line is `bad` (two good lines before it).
std::string error_for(const std::string& bad) {
  spf::test::TempDir dir;
  const std::string path = dir.file("c.jsonl");
  write_file_atomic(path,
                    "{\"id\":\"1\",\"input\":\"i\",\"outputs\":[\"o\"],\"metric\":\"all\"}\n"
                    "{\"id\":\"2\",\"input\":\"i\",\"outputs\":[\"o\"],\"metric\":\"all\"}\n" +
                        bad + "\n");
  try {
    load_custom_tasks(path, "custom:c.jsonl");
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path + ":3: "), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    return what;
  }
  ADD_FAILURE() << "no error for " << bad;
  return "";
}

TEST(EvalCustomTasks, MalformedLinesNameFileLineAndProblem) {
  EXPECT_NE(error_for("{\"id\":\"3\",\"input\":\"i\",\"outputs\":[\"o\"],\"metric\":\"all\","
                      "\"chat_template\":\"chatml\"}")
                .find("neither \"auto\" nor \"none\""),
            std::string::npos);
  EXPECT_NE(error_for("{\"id\":\"3\",\"input\":\"i\",\"outputs\":[\"o\"],\"metric\":\"all\","
                      "\"chat_template\":false}")
                .find("\"chat_template\" must be"),
            std::string::npos);
  EXPECT_NE(error_for("{\"id\": \"3\", \"input\": ").find("invalid JSON"), std::string::npos);
  EXPECT_NE(error_for("[1, 2]").find("expected a JSON object"), std::string::npos);
  EXPECT_NE(error_for("{\"id\":\"3\",\"input\":\"i\",\"metric\":\"all\"}")
                .find("missing key \"outputs\""),
            std::string::npos);
  EXPECT_NE(error_for("{\"id\":\"3\",\"input\":\"i\",\"outputs\":[],\"metric\":\"all\"}")
                .find("\"outputs\""),
            std::string::npos);
  EXPECT_NE(error_for("{\"id\":\"3\",\"input\":\"i\",\"outputs\":[\"\"],\"metric\":\"all\"}")
                .find("non-empty"),
            std::string::npos);
  EXPECT_NE(error_for("{\"id\":\"3\",\"input\":\"i\",\"outputs\":[\"o\"],\"metric\":\"any\"}")
                .find("\"metric\""),
            std::string::npos);
  EXPECT_NE(error_for("{\"id\":\"3\",\"input\":\"\",\"outputs\":[\"o\"],\"metric\":\"all\"}")
                .find("\"input\""),
            std::string::npos);
  EXPECT_NE(error_for("{\"id\":\"3\",\"input\":\"i\",\"outputs\":[\"o\"],\"metric\":\"all\",\"max_"
                      "new_tokens\":0}")
                .find("max_new_tokens"),
            std::string::npos);
  EXPECT_NE(error_for("{\"id\":[1],\"input\":\"i\",\"outputs\":[\"o\"],\"metric\":\"all\"}")
                .find("\"id\""),
            std::string::npos);
  EXPECT_NE(error_for("{\"id\":\"1\",\"input\":\"i\",\"outputs\":[\"o\"],\"metric\":\"all\"}")
                .find("duplicate id \"1\" (first on line 1)"),
            std::string::npos);
}

TEST(EvalCustomTasks, MissingOrEmptyFile) {
  spf::test::TempDir dir;
  EXPECT_THROW(load_custom_tasks(dir.file("none.jsonl"), "custom:none.jsonl"), Error);
  write_file_atomic(dir.file("empty.jsonl"), "\n\n");
  try {
    load_custom_tasks(dir.file("empty.jsonl"), "custom:empty.jsonl");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no samples"), std::string::npos);
  }
}

}  // namespace
}  // namespace spf::eval
