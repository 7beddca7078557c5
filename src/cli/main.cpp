// spf: the SparsePrefill command line. Each subcommand lives in its own file (cli/cmd_*.cpp).
#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "cli/common.h"
#include "core/error.h"
#include "core/printable.h"
#include "indexer/producer.h"

namespace {

// A command-line mistake, reported like every other error: one "spf: error:" line, pointing at the
// --help of the subcommand that was being parsed.
int usage_error(const CLI::App& app, const CLI::ParseError& e) {
  std::string cmd = "spf";
  const CLI::App* at = &app;
  while (!at->get_subcommands().empty()) {
    at = at->get_subcommands().front();
    cmd += " " + at->get_name();
  }
  std::string what = e.what();
  const std::vector<std::string> rest = app.remaining();
  if (at == &app && !rest.empty() && !rest.front().empty() && rest.front()[0] != '-') {
    what = "unknown subcommand '" + rest.front() + "' (known:";
    for (const CLI::App* s : app.get_subcommands({})) what += " " + s->get_name();
    what += ")";
  }
  std::fflush(stdout);
  std::fprintf(stderr, "spf: error: %s (see %s --help)\n", spf::printable(what).c_str(),
               cmd.c_str());
  return 1;  // documented: every error exits 1
}

void print_error(const char* what) {
  std::fflush(stdout);
  std::fprintf(stderr, "spf: error: %s\n", spf::printable(what).c_str());
}

// libgomp crashes on absurd thread counts before any spf code runs its own checks, and OpenMP
// reads the variable at the first parallel region: validate it up front.
void check_thread_env() {
  const char* env = std::getenv("OMP_NUM_THREADS");
  if (env == nullptr) return;
  const std::string v = env;
  constexpr long kMax = 1024;
  size_t start = 0;
  while (true) {  // a comma-separated list (nested levels); every entry must be sane
    const size_t end = v.find(',', start);
    const std::string item =
        v.substr(start, end == std::string::npos ? std::string::npos : end - start);
    char* stop = nullptr;
    errno = 0;
    const long n = item.empty() ? 0 : std::strtol(item.c_str(), &stop, 10);
    SPF_CHECK(!item.empty() && errno == 0 && *stop == '\0' && n >= 1 && n <= kMax,
              "OMP_NUM_THREADS=", v, " (each entry must be an integer in [1, ", kMax, "])");
    if (end == std::string::npos) break;
    start = end + 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    check_thread_env();
  } catch (const spf::Error& e) {
    print_error(e.what());
    return 1;
  }
  CLI::App app{"spf - sparse prefill runtime and research toolkit for long-context LLMs"};
  app.set_version_flag("--version", std::string("spf ") + SPF_VERSION);
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Help for every subcommand");
  spf::cli::add_generate(app);
  spf::cli::add_logits(app);
  spf::cli::add_tokenize(app);
  spf::cli::add_info(app);
  spf::cli::add_oracle(app);
  spf::cli::add_eval(app);
  spf::cli::add_methods(app);
  spf::cli::add_bench(app);
  spf::cli::add_train_indexer(app);
  spf::install_indexer_method();
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --help-all, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usage_error(app, e);
  } catch (const spf::Error& e) {
    print_error(e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    print_error("out of memory");
    return 1;
  } catch (const std::exception& e) {
    print_error(e.what());
    return 1;
  }
  return 0;
}
