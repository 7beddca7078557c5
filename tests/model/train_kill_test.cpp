// Kill-and-resume of a real `spf train-indexer` process on the default model: SIGKILL at
// pseudo-random moments (while the model loads, mid-step, mid-checkpoint), several times, then
// let it finish; the written indexer must equal an uninterrupted run's bit for bit (weights, Adam
// state, steps and tokens seen).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include "core/atomic_file.h"
#include "indexer/checkpoint.h"
#include "test_util.h"

namespace spf {
namespace {

pid_t start_training(const std::string& model, const std::string& out, const std::string& log) {
  std::fflush(nullptr);  // the child must not inherit (and write again) unflushed output
  const pid_t pid = fork();
  if (pid == 0) {
    FILE* f = std::freopen(log.c_str(), "a", stderr);
    (void)f;
    f = std::freopen(log.c_str(), "a", stdout);
    (void)f;
    const std::string text = test::fixture("text");
    execl(SPF_CLI_PATH, SPF_CLI_PATH, "train-indexer", "-m", model.c_str(), "--text", text.c_str(),
          "--heldout-every", "1000000", "--seq-len", "48", "--steps", "8", "--warmup", "2",
          "--checkpoint-every", "1", "--d-idx", "16", "--rope-dims", "8", "--threads", "1", "--out",
          out.c_str(), (char*)nullptr);
    _exit(127);
  }
  return pid;
}

int wait_for(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

TEST(TrainKill, IndexerAfterRepeatedSigkillsEqualsAnUninterruptedRun) {
  SPF_REQUIRE_DEFAULT_MODEL(model);
  test::TempDir dir;
  const std::string log = dir.file("log.txt");
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(wait_for(start_training(model, dir.file("whole.safetensors"), log)), 0)
      << read_file(log);
  const int whole_ms = int(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count());
  const IndexerFile whole = load_indexer(dir.file("whole.safetensors"));

  // Delays from [100 ms, half a whole run]: early kills land while the model loads, later ones
  // mid-step or mid-checkpoint; each restart resumes from the last complete checkpoint.
  std::mt19937 rng(20261204);
  std::uniform_int_distribution<int> delay_ms(100, std::max(200, whole_ms / 2));
  const std::string out = dir.file("killed.safetensors");
  int kills = 0;
  bool finished = false;
  for (int attempt = 0; attempt < 8 && !finished; ++attempt) {
    const pid_t pid = start_training(model, out, log);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    kill(pid, SIGKILL);
    const int status = wait_for(pid);
    kills += status == -SIGKILL;
    finished = status == 0;
    std::printf("  run %d: %s\n", attempt + 1, finished ? "finished" : "killed");
  }
  EXPECT_GE(kills, 3);
  if (!finished) {
    ASSERT_EQ(wait_for(start_training(model, out, log)), 0) << read_file(log);
  }
  const IndexerFile resumed = load_indexer(out);
  EXPECT_EQ(resumed.meta.step, whole.meta.step);
  EXPECT_EQ(resumed.meta.tokens_seen, whole.meta.tokens_seen);
  EXPECT_TRUE(resumed.weights.params == whole.weights.params);
  const IndexerFile whole_train = load_indexer(dir.file("whole.safetensors.train"));
  const IndexerFile resumed_train = load_indexer(out + ".train");
  EXPECT_TRUE(resumed_train.adam_m == whole_train.adam_m);
  EXPECT_TRUE(resumed_train.adam_v == whole_train.adam_v);
}

}  // namespace
}  // namespace spf
