#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "model/llama_family.h"
#include "model/model.h"
#include "model/qwen35.h"

namespace spf {

namespace {

bool is_gguf_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && std::string(magic, 4) == "GGUF";
}

std::unique_ptr<Model> build(const ModelConfig& cfg, const TensorSource& src) {
  switch (cfg.arch) {
    case Arch::llama:
    case Arch::qwen2:
    case Arch::qwen3:
      return make_llama_family_model(cfg, src);
    case Arch::qwen35:
      return make_qwen35_model(cfg, src);
  }
  fail("unsupported architecture");
}

}  // namespace

std::unique_ptr<Model> load_model(const std::string& path) {
  namespace fs = std::filesystem;
  SPF_CHECK(fs::exists(path), path, ": no such file or directory");
  if (fs::is_regular_file(path) && is_gguf_file(path)) {
    GgufFile g(path);
    return build(config_from_gguf(g), g);
  }
  const fs::path dir = fs::is_directory(path) ? fs::path(path) : fs::path(path).parent_path();
  const fs::path cfg_path = dir / "config.json";
  SPF_CHECK(fs::exists(cfg_path), path, ": not a GGUF file, and no config.json in ", dir.string());
  const ModelConfig cfg = config_from_hf_file(cfg_path.string());
  auto src = open_safetensors_checkpoint(dir.string());
  return build(cfg, *src);
}

}  // namespace spf
