// Custom task files (JSONL: id, input, outputs, metric per line).
#include "core/error.h"
#include "eval/custom_tasks.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = spf::fuzz::write_input(data, size, ".jsonl");
  try {
    (void)spf::eval::load_custom_tasks(path, "custom:fuzz");
  } catch (const spf::Error&) {
  }
  return 0;
}
