#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "model/decoder.h"
#include "model/model.h"

namespace spf {

namespace {

bool is_gguf_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && std::string(magic, 4) == "GGUF";
}

std::mutex& factories_mutex() {
  static std::mutex m;
  return m;
}

std::map<Device, DeviceModelFactory>& factories() {
  static std::map<Device, DeviceModelFactory> f;
  return f;
}

}  // namespace

void register_device_model_factory(Device device, DeviceModelFactory factory) {
  std::lock_guard<std::mutex> lock(factories_mutex());
  factories()[device] = std::move(factory);
}

std::unique_ptr<Model> make_model(const ModelConfig& cfg, const TensorSource& src,
                                  const LoadOptions& options) {
  if (options.device == Device::cpu) return make_decoder(cfg, src, options.weights);
  DeviceModelFactory factory;
  {
    std::lock_guard<std::mutex> lock(factories_mutex());
    auto it = factories().find(options.device);
    if (it != factories().end()) factory = it->second;
  }
  SPF_CHECK(factory != nullptr, "--device ", device_name(options.device), ": this build has no ",
            device_name(options.device), " support (it was built without the CUDA compiler)");
  return factory(cfg, src, options);
}

std::unique_ptr<Model> load_model(const std::string& path, const LoadOptions& options) {
  namespace fs = std::filesystem;
  SPF_CHECK(fs::exists(path), path, ": no such file or directory");
  if (fs::is_regular_file(path) && is_gguf_file(path)) {
    GgufFile g(path);
    return make_model(config_from_gguf(g), g, options);
  }
  const fs::path dir = fs::is_directory(path) ? fs::path(path) : fs::path(path).parent_path();
  const fs::path cfg_path = dir / "config.json";
  SPF_CHECK(fs::exists(cfg_path), path, ": not a GGUF file, and no config.json in ", dir.string());
  const ModelConfig cfg = config_from_hf_file(cfg_path.string());
  auto src = open_safetensors_checkpoint(dir.string());
  return make_model(cfg, *src, options);
}

}  // namespace spf
