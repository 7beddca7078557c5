// tokenizer.json: model, merges, added tokens, pre-tokenizer tree; then an encode/decode round.
#include "core/error.h"
#include "fuzz_input.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = spf::fuzz::write_input(data, size, ".tokenizer.json");
  try {
    const spf::Tokenizer t = spf::Tokenizer::from_hf_json(path);
    const std::vector<int32_t> ids = t.encode("Hello world, 123 <|im_start|> \xc3\xa9");
    (void)t.decode(ids);
  } catch (const spf::Error&) {
  }
  return 0;
}
