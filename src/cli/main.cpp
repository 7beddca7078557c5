// spf: the SparsePrefill command line. Each subcommand lives in its own file (cli/cmd_*.cpp).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "cli/common.h"
#include "core/error.h"

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
  spf::cli::add_bench(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
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
