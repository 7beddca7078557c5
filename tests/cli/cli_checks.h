// Checks shared by the CLI tests: run spf with stderr apart, and the one-line error contract
// (non-zero exit, no signal, exactly one "spf: error: ..." line holding the expected words).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>

#include "test_util.h"

namespace spf::test {

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

struct CliRun {
  int code = -1;
  std::string out, err;
};

// Runs spf with stderr captured apart from stdout.
inline CliRun run_split(const TempDir& t, const std::string& args) {
  const std::string err = t.file("stderr.txt");
  const test::CommandResult r = test::run_cli(args + " 2>" + err + "; exit $?");
  return {r.exit_code, r.output, read_text(err)};
}

// Bad input: a non-zero exit that is no signal, and stderr is exactly one "spf: error:" line
// holding every needle.
inline void expect_one_line_error(const CliRun& r, std::initializer_list<std::string> needles) {
  EXPECT_GT(r.code, 0) << r.out << r.err;
  EXPECT_LT(r.code, 128) << "killed by a signal: " << r.err;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.rfind("spf: error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.back(), '\n') << r.err;
  for (const std::string& n : needles)
    EXPECT_NE(r.err.find(n), std::string::npos) << "no '" << n << "' in: " << r.err;
}

}  // namespace spf::test
