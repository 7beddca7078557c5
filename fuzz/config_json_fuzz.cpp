// HF config.json: strict JSON, then every architecture's fields.
#include "core/error.h"
#include "fuzz_input.h"
#include "model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = spf::fuzz::write_input(data, size, ".config.json");
  try {
    (void)spf::config_from_hf_file(path);
  } catch (const spf::Error&) {
  }
  return 0;
}
