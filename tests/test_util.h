// Shared helpers for the GoogleTest suites: fixture paths, the default model, temp dirs, running
// the CLI, one-line errors, test inputs.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"

namespace spf::test {

inline std::string fixture(const std::string& rel) {
  return std::string(SPF_FIXTURE_DIR) + "/" + rel;
}

// The default SmolLM2 GGUF: $SPF_MODEL, else models/ in the source tree; "" when absent (tests
// skip).
inline std::string default_model_path() {
  if (const char* m = std::getenv("SPF_MODEL"); m != nullptr && std::filesystem::exists(m))
    return m;
  const std::string p = std::string(SPF_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
  return std::filesystem::exists(p) ? p : "";
}

#define SPF_REQUIRE_DEFAULT_MODEL(var)                       \
  const std::string var = ::spf::test::default_model_path(); \
  if (var.empty()) GTEST_SKIP() << "default model not fetched (run scripts/fetch-model.sh)"

// A fresh empty directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("spf-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs the spf CLI with the given argument string (shell-quoted by the caller), after shell
// variable assignments `env` (e.g. "OMP_NUM_THREADS=2"; may be empty).
inline CommandResult run_cli_env(const std::string& env, const std::string& args) {
  CommandResult r;
  const std::string cmd = env + " " + std::string(SPF_CLI_PATH) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}
inline CommandResult run_cli(const std::string& args) {
  return run_cli_env("", args);
}

inline std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.0f,
                                        float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// Whether f throws spf::Error; when it does, the message must be one line naming `needle`.
inline bool one_line_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    EXPECT_NE(m.find(needle), std::string::npos) << m;
    return true;
  }
  return false;
}

// A token stream with structure the attention picks up (a repeated phrase of 24 tokens, one token
// in three random), from a fixed seed: training data for the indexer trainer's tests.
inline std::vector<int32_t> phrase_stream(int64_t n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> phrase(24);
  for (int32_t& t : phrase) t = int32_t(rng() % uint32_t(vocab));
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    ids[size_t(i)] = rng() % 3 == 0 ? int32_t(rng() % uint32_t(vocab)) : phrase[size_t(i % 24)];
  return ids;
}

}  // namespace spf::test
