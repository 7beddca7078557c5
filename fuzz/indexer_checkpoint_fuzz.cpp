// Indexer checkpoint reader: safetensors header and metadata, tensor shapes against the stated
// geometry, optimizer state, finite values.
#include "core/error.h"
#include "fuzz_input.h"
#include "indexer/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = spf::fuzz::write_input(data, size, ".safetensors");
  try {
    (void)spf::load_indexer(path);
  } catch (const spf::Error&) {
  }
  return 0;
}
