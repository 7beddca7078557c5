// GGUF reader: header, metadata, tensor infos, config and tokenizer metadata, tensor reads.
#include "core/error.h"
#include "formats/gguf.h"
#include "fuzz_input.h"
#include "model/config.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = spf::fuzz::write_input(data, size, ".gguf");
  try {
    const spf::GgufFile g(path);
    try {
      (void)spf::config_from_gguf(g);
    } catch (const spf::Error&) {
    }
    try {
      (void)spf::Tokenizer::from_gguf(g);
    } catch (const spf::Error&) {
    }
    for (const std::string& name : g.names()) {
      try {
        if (g.info(name).numel() <= (1 << 16)) (void)g.read_f32(name);
      } catch (const spf::Error&) {
      }
    }
  } catch (const spf::Error&) {
  }
  return 0;
}
