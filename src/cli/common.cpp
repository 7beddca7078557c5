#include "cli/common.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#if SPF_HAVE_CUDA
#include "attention/cuda/cuda_executor.h"
#include "indexer/cuda/cuda_distill_backend.h"
#include "indexer/cuda/install.h"
#include "model/cuda/cuda_decoder.h"
#endif
#include "core/threads.h"
#include "indexer/checkpoint.h"
#include "model/config.h"
#include "support/method_spec.h"

namespace spf::cli {

namespace fs = std::filesystem;

namespace {
constexpr const char* kDefaultModelFile = "SmolLM2-135M-Instruct.Q4_1.gguf";

fs::path executable_dir() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return fs::current_path();
  buf[n] = 0;
  return fs::path(buf).parent_path();
}
}  // namespace

std::string resolve_model(const std::string& given) {
  if (!given.empty()) return given;
  if (const char* env = std::getenv("SPF_MODEL"); env != nullptr && *env != 0) return env;
  const fs::path exe = executable_dir();
  for (const fs::path& dir :
       {exe / ".." / "models", exe / "models", fs::current_path() / "models"}) {
    const fs::path p = dir / kDefaultModelFile;
    if (fs::exists(p)) return fs::weakly_canonical(p).string();
  }
  fail("no --model given and the default model (", kDefaultModelFile,
       ") is not fetched: run scripts/fetch-model.sh");
}

std::vector<int32_t> parse_ids(const std::string& text, const std::string& where,
                               const char* what) {
  std::vector<int32_t> ids;
  std::stringstream ss(text);
  std::string item;
  int idx = 0;
  while (std::getline(ss, item, ',')) {
    const size_t b = item.find_first_not_of(" \t\r\n"), e = item.find_last_not_of(" \t\r\n");
    SPF_CHECK(b != std::string::npos, where, ": empty element at position ", idx);
    const std::string tok = item.substr(b, e - b + 1);
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(tok.c_str(), &end, 10);
    SPF_CHECK(end != nullptr && *end == 0 && errno == 0 && v >= 0 && v <= INT32_MAX, where,
              ": element ", idx, " ('", tok, "') is not a non-negative ", what);
    ids.push_back(int32_t(v));
    ++idx;
  }
  SPF_CHECK(!ids.empty(), where, ": no ", what, "s");
  return ids;
}

std::vector<int32_t> read_ids_file(const std::string& path) {
  std::ifstream in(path);
  SPF_CHECK(in.good(), path, ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  for (char& c : s)
    if (c == '\n' || c == ' ' || c == '\t' || c == '\r') c = ',';
  // Collapse separators so that "1 2\n3" and "1,2,3" both work.
  std::string norm;
  for (char c : s)
    if (!(c == ',' && (norm.empty() || norm.back() == ','))) norm.push_back(c);
  if (!norm.empty() && norm.back() == ',') norm.pop_back();
  return parse_ids(norm, path);
}

void check_output_path(const std::string& path, const std::string& option) {
  if (path.empty()) return;
  SPF_CHECK(!fs::is_directory(path), option, " ", path, ": is a directory");
  const fs::path dir = fs::path(path).parent_path();
  SPF_CHECK(dir.empty() || fs::is_directory(dir), option, " ", path, ": directory ", dir.string(),
            " does not exist");
}

std::vector<int32_t> synthetic_ids(int64_t n, int vocab, uint64_t& state) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int32_t& id : ids) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    id = int32_t((state >> 33) % uint64_t(vocab));
  }
  return ids;
}

CLI::Option* at_least(CLI::Option* opt, int64_t lo) {
  return opt->check(CLI::Range(lo, int64_t(1) << 40));
}

CLI::Option* seed_value(CLI::Option* opt) {
  return opt->check(CLI::Validator(
      [](std::string& v) -> std::string {
        const size_t i = v.find_first_not_of(" \t");
        if (i != std::string::npos && v[i] == '-') return "a seed must be >= 0, got " + v;
        return {};
      },
      "SEED"));
}

void add_threads_option(CLI::App& app, int& threads) {
  app.add_option("--threads", threads, "Worker threads (default: all cores, or OMP_NUM_THREADS)")
      ->check(CLI::Range(1, 4096));
}

void add_device_option(CLI::App& app, std::string& device) {
  app.add_option("--device", device,
                 "Where the model runs: cpu, or cuda (bf16 weights and activations on the GPU)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
}

Device use_device(const std::string& device) {
  if (device == "cpu") return Device::cpu;
  SPF_CHECK(device == "cuda", "--device ", device, ": expected cpu or cuda");
#if SPF_HAVE_CUDA
  SPF_CHECK(cuda_device_present(), "--device cuda: no CUDA device is visible");
  install_cuda_models();
  install_cuda_indexer_method();
  install_cuda_distill();
  return Device::cuda;
#else
  throw Error("--device cuda: this build has no CUDA support (it was built without nvcc)");
#endif
}

void check_dense_layers(int dense_layers, const ModelConfig& cfg) {
  SPF_CHECK(dense_layers >= 0 && dense_layers <= cfg.n_attention_layers(), "--dense-layers ",
            dense_layers, " is outside [0, ", cfg.n_attention_layers(), "] (the model has ",
            cfg.n_attention_layers(), " attention layers)");
}

void check_indexer_specs(const std::vector<std::string>& methods, const ModelConfig& cfg,
                         const std::string& model_path) {
  for (const std::string& m : methods) {
    const MethodSpec spec = parse_method_spec(m);
    if (spec.method != "indexer") continue;
    check_indexer_for_model(load_indexer(spec.path), spec.path, cfg, model_path);
  }
}

void apply_threads(int threads) {
  set_num_threads(threads);
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> v;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(',', start), text.size());
    if (end > start) v.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return v;
}

}  // namespace spf::cli
