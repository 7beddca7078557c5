// The indexer through the command line: a random-init file for the tiny Llama fixture serves
// indexer:FILE in spf logits (with --sparse-layers); bad files and another model's file fail with
// one "spf: error:" line and exit 1, as do a bad --loss, --synthetic or --synthetic-tasks and an
// --eval-every without held-out text.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "core/atomic_file.h"
#include "indexer/checkpoint.h"
#include "indexer/corpus.h"
#include "test_util.h"

namespace spf {
namespace {

void expect_one_line_error(const test::CommandResult& r, const std::vector<std::string>& parts) {
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(r.output.rfind("spf: error: ", 0), 0u) << r.output;
  EXPECT_EQ(r.output.find('\n'), r.output.size() - 1) << r.output;
  for (const std::string& p : parts) EXPECT_NE(r.output.find(p), std::string::npos) << r.output;
}

TEST(IndexerCli, RandomInitServesLogitsAndBadFilesFailWithOneLine) {
  test::TempDir t;
  const std::string llama = test::fixture("hf/llama"), qwen = test::fixture("hf/qwen3");
  const std::string idx = t.file("idx.safetensors");
  test::CommandResult r = test::run_cli("train-indexer -m " + llama + " --random-init --d-idx 16 " +
                                        "--rope-dims 8 --out " + idx);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const IndexerFile f = load_indexer(idx);
  EXPECT_EQ(f.weights.config.d_idx, 16);
  EXPECT_EQ(f.weights.config.n_layers, 3);
  EXPECT_EQ(f.meta.step, 0);

  const std::string args = "logits -m " + llama + " --ids 1,5,9,2,7,3,8,4 --budget 50% --out ";
  r = test::run_cli(args + t.file("a.npy") + " --method indexer:" + idx);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = test::run_cli(args + t.file("b.npy") + " --method indexer:" + idx +
                    ":block4 --sparse-layers every:2");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  expect_one_line_error(
      test::run_cli(args + t.file("c.npy") + " --method indexer:" + idx + " --sparse-layers 3"),
      {"--sparse-layers", "outside [0, 3)"});

  // Truncated file.
  const std::string bytes = read_file(idx);
  const std::string trunc = t.file("trunc.safetensors");
  write_file_atomic(trunc, bytes.substr(0, bytes.size() / 2));
  expect_one_line_error(test::run_cli(args + t.file("d.npy") + " --method indexer:" + trunc),
                        {"trunc.safetensors"});
  // Another model (same shapes, other weights): the hash says so.
  expect_one_line_error(test::run_cli("logits -m " + qwen + " --ids 1,2,3 --out " +
                                      t.file("e.npy") + " --method indexer:" + idx),
                        {"idx.safetensors", "trained for"});
  // indexer-eval refuses it too.
  expect_one_line_error(test::run_cli("indexer-eval -m " + qwen + " --indexer " + idx + " --text " +
                                      test::fixture("text")),
                        {"idx.safetensors", "trained for"});
  // A bad --loss fails before any training.
  expect_one_line_error(test::run_cli("train-indexer -m " + llama + " --out " + t.file("l.st") +
                                      " --text " + test::fixture("text") + " --loss kl+topk:0"),
                        {"--loss kl+topk:0", "LAMBDA"});
  expect_one_line_error(test::run_cli("train-indexer -m " + llama + " --out " + t.file("l.st") +
                                      " --text " + test::fixture("text") + " --loss kl+topce:1:0"),
                        {"--loss kl+topce:1:0", "FRAC"});
  // The GPU trainer implements plain KL only: a ranking-aware loss there fails before the model.
  expect_one_line_error(
      test::run_cli("train-indexer -m " + llama + " --out " + t.file("l.st") + " --text " +
                    test::fixture("text") + " --device cuda --loss kl+topk:1"),
      {"--loss kl+topk:1", "CPU only"});
  // So do a --synthetic fraction outside [0, 1] and an unknown synthetic task.
  const std::string train =
      "train-indexer -m " + llama + " --out " + t.file("s.st") + " --text " + test::fixture("text");
  for (const char* frac : {"1.5", "-0.5", "nan"})
    expect_one_line_error(test::run_cli(train + " --synthetic " + frac),
                          {std::string("--synthetic ") + frac, "[0, 1]"});
  expect_one_line_error(
      test::run_cli(train + " --synthetic 0.5 --synthetic-tasks niah_single_1,niah_bogus"),
      {"--synthetic-tasks", "unknown task \"niah_bogus\"", "niah_multikey_1"});
  // A held-out curve asked for on a corpus whose held-out split is empty is an error, not a run
  // that silently never evaluates: a one-file corpus whose file lands in training.
  std::string one;
  for (int i = 0; i < 64 && one.empty(); ++i) {
    const std::string f = t.file("prose" + std::to_string(i) + ".txt");
    std::filesystem::copy_file(test::fixture("text/prose.txt"), f);
    CorpusOptions co;
    co.roots = {f};
    try {
      if (load_corpus(co).heldout_files.empty()) one = f;
    } catch (const Error&) {  // held out, so no training text: try another name
    }
  }
  ASSERT_FALSE(one.empty());
  expect_one_line_error(test::run_cli("train-indexer -m " + llama + " --out " + t.file("s.st") +
                                      " --text " + one + " --steps 2 --eval-every 1"),
                        {"--eval-every 1", "held-out split of --text is empty"});
  expect_one_line_error(test::run_cli(train + " --eval-every 1 --eval-tokens -5"),
                        {"--eval-tokens", "-5"});
  // A run that never checkpoints would lose every step to a kill; negative periods are typos.
  expect_one_line_error(test::run_cli(train + " --checkpoint-every 0"),
                        {"--checkpoint-every", "0"});
  expect_one_line_error(test::run_cli(train + " --eval-every -1"), {"--eval-every", "-1"});
  expect_one_line_error(test::run_cli(train + " --stop-after -2"), {"--stop-after", "-2"});
  EXPECT_FALSE(std::filesystem::exists(t.file("s.st")));
  // The help names the options.
  const test::CommandResult help = test::run_cli("train-indexer --help");
  EXPECT_NE(help.output.find("--synthetic FLOAT"), std::string::npos) << help.output;
  EXPECT_NE(help.output.find("--synthetic-tasks"), std::string::npos) << help.output;
}

}  // namespace
}  // namespace spf
