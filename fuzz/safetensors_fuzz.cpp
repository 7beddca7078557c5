// safetensors: the 8-byte length, the JSON header and every tensor read.
#include "core/error.h"
#include "formats/safetensors.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = spf::fuzz::write_input(data, size, ".safetensors");
  try {
    const spf::SafetensorsFile f(path);
    for (const std::string& name : f.names()) {
      try {
        if (f.info(name).numel() <= (1 << 16)) (void)f.read_f32(name);
      } catch (const spf::Error&) {
      }
    }
  } catch (const spf::Error&) {
  }
  return 0;
}
