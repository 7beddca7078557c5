// spf::Error is the one error type of the project: a single human-readable line that says what is
// wrong and where (file, tensor, line number, option). Every layer throws it; only the CLI catches
// it, prints "spf: error: <what>" and exits non-zero.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace spf {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Concatenates any streamable values into one string: cat("tensor ", name, " has ", n, " dims").
template <class... Args>
std::string cat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

template <class... Args>
[[noreturn]] void fail(Args&&... args) {
  throw Error(cat(std::forward<Args>(args)...));
}

}  // namespace spf

// SPF_CHECK(cond, parts...) throws spf::Error built from parts when cond is false.
#define SPF_CHECK(cond, ...)               \
  do {                                     \
    if (!(cond)) ::spf::fail(__VA_ARGS__); \
  } while (0)
