// Shared by the libFuzzer targets: the readers under test take paths, so each input is written to
// one scratch file per process (rewritten for every input). Any spf::Error is an accepted outcome
// (bad input must be rejected cleanly); a crash, hang, leak or sanitizer report is a bug.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace spf::fuzz {

inline const std::string& scratch_path(const char* suffix) {
  static const std::string path = [&] {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir ? dir : "/tmp") + "/spf-fuzz-" + std::to_string(::getpid()) + suffix;
  }();
  return path;
}

inline const std::string& write_input(const uint8_t* data, size_t size, const char* suffix) {
  const std::string& p = scratch_path(suffix);
  FILE* f = std::fopen(p.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return p;
}

}  // namespace spf::fuzz
