// Tokenizer::load_for_model: a .gguf file carries its tokenizer; anything else (a checkpoint
// directory, or a file inside one) uses the tokenizer.json of that directory.
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "formats/gguf.h"
#include "tokenizer/tokenizer.h"

namespace spf {
namespace {

namespace fs = std::filesystem;

bool looks_like_gguf(const fs::path& p) {
  if (p.extension() == ".gguf") return true;
  std::ifstream f(p, std::ios::binary);
  char magic[4] = {};
  f.read(magic, 4);
  return f.gcount() == 4 && std::memcmp(magic, "GGUF", 4) == 0;
}

}  // namespace

Tokenizer Tokenizer::load_for_model(const std::string& model_path) {
  std::error_code ec;
  const fs::path p(model_path);
  SPF_CHECK(fs::exists(p, ec), model_path, ": no such file or directory");
  if (fs::is_directory(p, ec)) {
    const fs::path tj = p / "tokenizer.json";
    SPF_CHECK(fs::is_regular_file(tj, ec), model_path, ": directory has no tokenizer.json");
    return from_hf_json(tj.string());
  }
  if (looks_like_gguf(p)) {
    const GgufFile g(model_path);
    return from_gguf(g);
  }
  if (p.filename() == "tokenizer.json") return from_hf_json(model_path);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  const fs::path tj = dir / "tokenizer.json";
  SPF_CHECK(fs::is_regular_file(tj, ec), model_path,
            ": not a GGUF file, and no tokenizer.json next to it");
  return from_hf_json(tj.string());
}

}  // namespace spf
