// Helpers shared by the spf subcommands: default-model resolution, id-list parsing, threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI
namespace spf {
struct ModelConfig;
}

namespace spf::cli {

// --model given -> it; else $SPF_MODEL; else models/SmolLM2-135M-Instruct.Q4_1.gguf next to the
// build tree or in the working directory. Throws with the fetch command when none exists.
std::string resolve_model(const std::string& given);

// "1,2, 3" -> {1,2,3}; throws naming the bad element (`what` names one element in the error).
std::vector<int32_t> parse_ids(const std::string& text, const std::string& where,
                               const char* what = "token id");
std::vector<int32_t> read_ids_file(const std::string& path);
// "a,b,,c" -> {a,b,c}: the non-empty comma-separated items of an option's value.
std::vector<std::string> split_list(const std::string& text);

// Throws unless `path` (the value of `option`) can be created: its directory exists. Called before
// a model loads, so that a typo in an output path costs no forward pass.
void check_output_path(const std::string& path, const std::string& option);

// Seeded pseudo-random token ids in [0, vocab) for benchmarks (speed does not depend on content);
// state advances, so successive calls continue one stream.
std::vector<int32_t> synthetic_ids(int64_t n, int vocab, uint64_t& state);

// Integer options: the value must lie in [lo, 2^40]; refused in one line naming that range
// (CLI::NonNegativeNumber would print the largest double as the bound). Returns `opt`.
CLI::Option* at_least(CLI::Option* opt, int64_t lo);
// Seeds: any unsigned 64-bit value; a negative one is refused instead of wrapping. Returns `opt`.
CLI::Option* seed_value(CLI::Option* opt);

// Registers --threads on a subcommand; apply_threads() applies it.
void add_threads_option(CLI::App& app, int& threads);
void apply_threads(int threads);

// Registers --device cpu|cuda; use_device() checks it (a GPU is visible, the build has CUDA),
// installs the CUDA model and executor and returns the device.
void add_device_option(CLI::App& app, std::string& device);
Device use_device(const std::string& device);

// --dense-layers L: 0 <= L <= the model's attention layers (more would silently mean "all").
void check_dense_layers(int dense_layers, const ModelConfig& cfg);

// For every indexer:FILE spec among `methods`: the file was made for this model (layers, hidden
// size, identity and hash); throws one line otherwise. Other methods pass.
void check_indexer_specs(const std::vector<std::string>& methods, const ModelConfig& cfg,
                         const std::string& model_path);

// Subcommand registration, one per file.
void add_generate(CLI::App& app);
void add_logits(CLI::App& app);
void add_tokenize(CLI::App& app);
void add_info(CLI::App& app);
void add_bench(CLI::App& app);
void add_bench_ttft(CLI::App& bench);  // spf bench ttft (cmd_bench_ttft.cpp)
void add_oracle(CLI::App& app);
void add_eval(CLI::App& app);  // eval, sweep, report
void add_methods(CLI::App& app);
void add_train_indexer(CLI::App& app);  // train-indexer, indexer-eval

}  // namespace spf::cli
