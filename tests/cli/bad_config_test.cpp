// spf info / spf logits on checkpoints whose config or weights do not fit: unknown architecture or
// layer type, inconsistent head counts, a missing (GDN) tensor, a prompt longer than the context.
// Copies of the tiny HF fixtures are edited in a temp dir; every failure is one "spf: error:" line.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli_checks.h"
#include "formats/safetensors.h"
#include "test_util.h"
// GCC 12 reports a false -Wrestrict inside std::string concatenation in the writer at -O3.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wrestrict"
#include "formats/writers.h"
#pragma GCC diagnostic pop

namespace spf {
namespace {

using test::CliRun;
using test::expect_one_line_error;
using test::read_text;
using test::run_split;
using test::write_text;

namespace fs = std::filesystem;
using json = nlohmann::json;
using test::TempDir;

// A copy of tests/fixtures/hf/<name> (config.json + model.safetensors) with its config edited.
std::string copy_checkpoint(const TempDir& t, const std::string& name,
                            const std::function<void(json&)>& edit = {}) {
  const fs::path d = t.path() / name;
  fs::create_directories(d);
  for (const char* f : {"config.json", "model.safetensors"})
    fs::copy_file(test::fixture("hf/" + name + "/" + f), d / f);
  if (edit) {
    json cfg = json::parse(read_text((d / "config.json").string()));
    edit(cfg);
    test::write_bytes((d / "config.json").string(), cfg.dump(2));
  }
  return d.string();
}

// Rewrites DIR/model.safetensors without the tensor `drop` (all fixture tensors are F32).
void drop_tensor(const std::string& dir, const std::string& drop) {
  const std::string path = dir + "/model.safetensors";
  test::SafetensorsBuilder b;
  {
    SafetensorsFile src(path);
    ASSERT_TRUE(src.has(drop)) << drop;
    for (const std::string& n : src.names()) {
      if (n == drop) continue;
      b.tensor(n, "F32", src.info(n).shape, test::to_bytes(src.read_f32(n)));
    }
  }
  test::write_bytes(path, b.build());
}

// `spf logits` on the checkpoint fails with the needles and writes no output file.
void expect_logits_fails(const TempDir& t, const std::string& dir, const std::string& ids,
                         std::initializer_list<std::string> needles) {
  const std::string out = t.file("X.npy");
  expect_one_line_error(run_split(t, "logits --model " + dir + " --ids " + ids + " --out " + out),
                        needles);
  EXPECT_FALSE(fs::exists(out));
}

TEST(CliBadConfig, UnknownArchitecture) {
  TempDir t;
  const std::string d = copy_checkpoint(t, "llama", [](json& c) {
    c["model_type"] = "gpt_neox";
    c["architectures"] = {"GPTNeoXForCausalLM"};
  });
  expect_one_line_error(run_split(t, "info " + d),
                        {"config.json", "unknown model_type 'gpt_neox'"});
  expect_logits_fails(t, d, "1,2", {"config.json", "unknown model_type 'gpt_neox'"});
}

// Found by the fuzz smoke: a non-string model_type or rope type escaped as a JSON library
// exception (an abort in the fuzz target) instead of one line naming the key.
TEST(CliBadConfig, NonStringTypeFields) {
  TempDir t;
  const std::string null_type = copy_checkpoint(t, "llama", [](json& c) { c["model_type"] = 7; });
  expect_one_line_error(run_split(t, "info " + null_type),
                        {"config.json", "\"model_type\" must be a string"});
  TempDir t2;
  const std::string rope = copy_checkpoint(t2, "llama", [](json& c) {
    c["rope_scaling"] = {{"rope_type", {1, 2}}, {"factor", 2.0}};
  });
  expect_logits_fails(t2, rope, "1,2", {"config.json", "\"rope_type\" must be a string"});
}

TEST(CliBadConfig, UnknownLayerType) {
  TempDir t;
  const std::string d = copy_checkpoint(t, "qwen3_5_text",
                                        [](json& c) { c["layer_types"][2] = "sliding_attention"; });
  const std::initializer_list<std::string> needles = {
      "config.json", "unknown layer type 'sliding_attention'", "layer_types[2]"};
  expect_one_line_error(run_split(t, "info " + d), needles);
  expect_logits_fails(t, d, "1,2", needles);
}

TEST(CliBadConfig, HeadsNotAMultipleOfKvHeads) {
  TempDir t;
  const std::string d = copy_checkpoint(t, "llama", [](json& c) { c["num_key_value_heads"] = 3; });
  const std::initializer_list<std::string> needles = {"num_attention_heads 4",
                                                      "num_key_value_heads 3"};
  expect_one_line_error(run_split(t, "info " + d), needles);
  expect_logits_fails(t, d, "1,2", needles);
}

TEST(CliBadConfig, MissingTensor) {
  TempDir t;
  const std::string d = copy_checkpoint(t, "llama");
  drop_tensor(d, "model.layers.1.mlp.up_proj.weight");
  expect_logits_fails(t, d, "1,2",
                      {"model.safetensors", "missing tensor model.layers.1.mlp.up_proj.weight"});
}

TEST(CliBadConfig, MissingGdnTensor) {
  TempDir t;
  const std::string d = copy_checkpoint(t, "qwen3_5_text");
  drop_tensor(d, "model.layers.4.linear_attn.A_log");
  expect_logits_fails(t, d, "1,2",
                      {"model.safetensors", "missing tensor model.layers.4.linear_attn.A_log"});
}

TEST(CliBadConfig, PromptLongerThanContext) {
  TempDir t;
  const std::string d =
      copy_checkpoint(t, "llama", [](json& c) { c["max_position_embeddings"] = 8; });
  expect_logits_fails(t, d, "1,2,3,4,5,6,7,8,9", {"--ids", "9 token ids", "context of 8"});
  // Exactly the context still runs.
  const std::string out = t.file("ok.npy");
  const CliRun ok = run_split(t, "logits --model " + d + " --ids 1,2,3,4,5,6,7,8 --out " + out);
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_TRUE(fs::exists(out));
}

TEST(CliBadConfig, PromptLongerThanContextHybrid) {
  TempDir t;
  const std::string d =
      copy_checkpoint(t, "qwen3_5_text", [](json& c) { c["max_position_embeddings"] = 4; });
  expect_logits_fails(t, d, "1,2,3,4,5", {"--ids", "5 token ids", "context of 4"});
}

// Integers that do not fit, negative counts and a non-positive context: a clear error, never a
// truncated value (4294967297 layers used to load a 1-layer model) or a library message.
TEST(CliBadConfig, OutOfRangeAndNonPositiveIntegers) {
  struct Case {
    const char* key;
    json value;
    std::initializer_list<std::string> needles;
  };
  const Case cases[] = {
      {"num_hidden_layers",
       json(4294967297LL),
       {"\"num_hidden_layers\" = 4294967297", "out of range"}},
      {"num_hidden_layers", json(-1), {"num_hidden_layers = -1", "must be positive"}},
      {"head_dim", json(4294967360LL), {"\"head_dim\"", "out of range"}},
      {"vocab_size", json(uint64_t(18446744073709551615ULL)), {"\"vocab_size\"", "out of range"}},
      {"max_position_embeddings", json(0), {"context length 0", "must be positive"}},
      {"num_hidden_layers", json(2000000000), {"num_hidden_layers = 2000000000", "beyond"}},
      {"vocab_size", json(1 << 30), {"vocab_size", "beyond the supported maximum"}},
      {"max_position_embeddings", json(-5), {"context length -5", "must be positive"}},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(std::string(k.key) + " = " + k.value.dump());
    TempDir t;
    const std::string d = copy_checkpoint(t, "llama", [&](json& c) { c[k.key] = k.value; });
    expect_one_line_error(run_split(t, "info " + d), k.needles);
    expect_logits_fails(t, d, "1,2", k.needles);
  }
}

}  // namespace
}  // namespace spf
