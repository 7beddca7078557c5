// spf: the SparsePrefill command line. Each subcommand lives in its own file (cli/cmd_*.cpp).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "cli/common.h"
#include "core/error.h"

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
  for (char& c : what)
    if (c == '\n') c = ' ';
  std::fflush(stdout);
  std::fprintf(stderr, "spf: error: %s (see %s --help)\n", what.c_str(), cmd.c_str());
  return e.get_exit_code();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"spf - sparse prefill runtime and research toolkit for long-context LLMs"};
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
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --help-all
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usage_error(app, e);
  } catch (const spf::Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "spf: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "spf: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spf: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
