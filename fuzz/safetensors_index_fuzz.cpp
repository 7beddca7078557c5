// model.safetensors.index.json of a sharded checkpoint (shards resolved next to the scratch file).
#include "core/error.h"
#include "formats/safetensors.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = spf::fuzz::write_input(data, size, ".index.json");
  try {
    const spf::ShardedSafetensors s(path);
    (void)s.names();
  } catch (const spf::Error&) {
  }
  return 0;
}
