// spf info on the hybrid Qwen3.5 fixtures (layer schedule, heads) and on the default GGUF (arch,
// layers, tensor type counts), spf logits' success path, and --help of spf and every subcommand.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/npy.h"
#include "formats/gguf.h"
#include "test_util.h"

namespace spf {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using test::run_cli;

#define EXPECT_HAS(hay, needle) \
  EXPECT_NE((hay).find(needle), std::string::npos) << "no '" << (needle) << "' in:\n" << (hay)

json read_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

// The "full attention" and "linear attention" lines spf info prints for a layer_types list.
std::pair<std::string, std::string> schedule_lines(const json& layer_types) {
  std::string full, linear;
  int n_full = 0, n_linear = 0;
  for (size_t i = 0; i < layer_types.size(); ++i) {
    const bool is_full = layer_types[i].get<std::string>() == "full_attention";
    std::string& s = is_full ? full : linear;
    s += cat(s.empty() ? "" : ",", i);
    ++(is_full ? n_full : n_linear);
  }
  return {cat("full attention    ", n_full, " layers: [", full, "]\n"),
          cat("linear attention  ", n_linear, " layers (Gated DeltaNet): [", linear, "]\n")};
}

TEST(CliInfo, Qwen35TextLayerSchedule) {
  const std::string dir = test::fixture("hf/qwen3_5_text");
  const test::CommandResult r = run_cli("info " + dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto [full, linear] = schedule_lines(read_json(dir + "/config.json")["layer_types"]);
  EXPECT_EQ(full, "full attention    2 layers: [3,5]\n");  // the fixture as written today
  EXPECT_EQ(linear, "linear attention  4 layers (Gated DeltaNet): [0,1,2,4]\n");
  EXPECT_HAS(r.output, full);
  EXPECT_HAS(r.output, linear);
  EXPECT_HAS(r.output, "architecture      qwen3_5 (Qwen3_5ForCausalLM)");
  EXPECT_HAS(r.output, "layers            6\n");
  EXPECT_HAS(r.output, "attention heads   4 query / 2 key-value (GQA group 2), head_dim 32\n");
  EXPECT_HAS(r.output, "gated deltanet    2 key heads x 16, 4 value heads x 24, conv kernel 4\n");
  EXPECT_HAS(r.output, "context           4096 tokens\n");
}

TEST(CliInfo, Qwen35CompositeLayerSchedule) {
  const std::string dir = test::fixture("hf/qwen3_5");
  const test::CommandResult r = run_cli("info " + dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto [full, linear] =
      schedule_lines(read_json(dir + "/config.json")["text_config"]["layer_types"]);
  EXPECT_EQ(full, "full attention    2 layers: [2,4]\n");
  EXPECT_EQ(linear, "linear attention  3 layers (Gated DeltaNet): [0,1,3]\n");
  EXPECT_HAS(r.output, full);
  EXPECT_HAS(r.output, linear);
  EXPECT_HAS(r.output, "(Qwen3_5ForConditionalGeneration)");
  EXPECT_HAS(r.output, "layers            5\n");
  EXPECT_HAS(r.output, "attention heads   4 query / 2 key-value (GQA group 2), head_dim 32\n");
  EXPECT_HAS(r.output, "vocab             384\n");
}

TEST(CliInfo, DenseCheckpointHasNoLinearLayers) {
  const test::CommandResult r = run_cli("info " + test::fixture("hf/llama") + " --tensors");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_HAS(r.output, "full attention    3 layers: [0,1,2]\n");
  EXPECT_EQ(r.output.find("linear attention"), std::string::npos) << r.output;
  EXPECT_HAS(r.output, "attention heads   4 query / 2 key-value (GQA group 2), head_dim 16\n");
  EXPECT_HAS(r.output, "by type: F32=29\n");
  EXPECT_HAS(r.output, "model.layers.2.mlp.down_proj.weight");  // --tensors lists every tensor
}

TEST(CliInfo, DefaultGguf) {
  SPF_REQUIRE_DEFAULT_MODEL(model);
  const test::CommandResult r = run_cli("info " + model);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_HAS(r.output, "architecture      llama");
  EXPECT_HAS(r.output, "layers            30\n");
  EXPECT_HAS(r.output, "attention heads   9 query / 3 key-value (GQA group 3), head_dim 64\n");
  // The type counts printed are the file's own.
  const GgufFile g(model);
  std::map<std::string, int> by_type;
  for (const std::string& n : g.names()) ++by_type[g.info(n).ggml_type_name];
  std::string counts;
  for (const auto& [t, n] : by_type) counts += cat(" ", t, "=", n);
  EXPECT_HAS(r.output, cat("tensors           ", g.names().size(), ", "));
  EXPECT_HAS(r.output, cat("by type:", counts, "\n"));
  EXPECT_TRUE(by_type.count("Q4_1")) << counts;
  EXPECT_TRUE(by_type.count("F32")) << counts;
}

// spf logits on a prefix of a fixture's reference ids: [n, vocab] float32 rows equal to the
// reference logits' first rows (attention is causal).
void expect_logits_match_reference(const std::string& name, int64_t vocab) {
  SCOPED_TRACE(name);
  const std::string dir = test::fixture("hf/" + name);
  const NpyArray ids = read_npy(dir + "/ids.npy");
  const NpyArray ref = read_npy(dir + "/logits.npy");
  const size_t n = 40;  // a prefix keeps the run short
  ASSERT_GE(ids.data.size(), n);
  test::TempDir t;
  const std::string ids_file = t.file("ids.txt"), out = t.file("logits.npy");
  {
    std::ofstream f(ids_file);
    for (size_t i = 0; i < n; ++i) f << int(ids.data[i]) << (i % 10 == 9 ? "\n" : " ");
  }
  const test::CommandResult r =
      run_cli("logits --model " + dir + " --ids-file " + ids_file + " -o " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_HAS(r.output, cat("[", n, ", ", vocab, "]"));
  const NpyArray got = read_npy(out);
  ASSERT_EQ(got.shape, (std::vector<int64_t>{int64_t(n), vocab}));
  ASSERT_GE(ref.data.size(), got.data.size());
  double max_diff = 0, max_ref = 0;
  for (size_t i = 0; i < got.data.size(); ++i) {
    ASSERT_TRUE(std::isfinite(got.data[i])) << i;
    max_diff = std::max(max_diff, double(std::fabs(got.data[i] - ref.data[i])));
    max_ref = std::max(max_ref, double(std::fabs(ref.data[i])));
  }
  EXPECT_LE(max_diff, 1e-4 * max_ref);
}

TEST(CliLogits, MatchesReferenceOnTinyCheckpoints) {
  expect_logits_match_reference("llama", 512);
  expect_logits_match_reference("qwen3_5_text", 512);  // hybrid: GDN + gated attention layers
  expect_logits_match_reference("qwen3_5", 384);       // composite (text_config) checkpoint
}

TEST(CliLogits, SparseSupportKeepsShape) {
  test::TempDir t;
  const std::string out = t.file("sparse.npy");
  const test::CommandResult r =
      run_cli("logits --model " + test::fixture("hf/llama") + " --ids 5,6,7 --out " + out +
              " --method oracle:groups=head --budget k=2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_npy(out).shape, (std::vector<int64_t>{3, 512}));
}

TEST(CliHelp, TopLevelListsSubcommands) {
  const test::CommandResult r = run_cli("--help");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (const char* s : {"generate", "logits", "tokenize", "info", "oracle", "eval", "sweep",
                        "report", "bench", "methods"})
    EXPECT_HAS(r.output, s);
}

TEST(CliHelp, EverySubcommandDescribesItsOptions) {
  const std::map<std::string, std::vector<std::string>> want = {
      {"generate",
       {"--model", "--prompt", "--system", "--raw", "--max-new-tokens", "--temperature", "--top-p",
        "--seed", "--quiet", "--threads"}},
      {"logits",
       {"--model", "--ids", "--ids-file", "--out", "--method", "--budget", "--dense-layers",
        "--threads"}},
      {"tokenize", {"--model", "--text", "--file", "--chat", "--pieces", "--count"}},
      {"info", {"path", "--tensors"}},
      {"oracle",
       {"--model", "--prompt-file", "--method", "--budget", "--sink", "--window", "--dense-layers",
        "--max-tokens", "--json", "--markdown"}},
      {"eval",
       {"--model", "--task", "--tasks", "--length", "--samples", "--method", "--budget", "--seed",
        "--results"}},
      {"sweep", {"--config", "--shard", "--merge", "--threads"}},
      {"report", {"results", "--out", "--no-plots"}},
      {"methods", {"--json"}},
      {"bench", {"prefill"}},
      {"bench prefill",
       {"--model", "--lengths", "--repeats", "--json", "--threads", "--methods", "--budget",
        "--sparse-layers"}},
  };
  for (const auto& [cmd, options] : want) {
    SCOPED_TRACE(cmd);
    const test::CommandResult r = run_cli(cmd + " --help");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    for (const std::string& o : options) EXPECT_HAS(r.output, o);
  }
}

}  // namespace
}  // namespace spf
