#include "support/device_backend.h"

#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace spf {

namespace {

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

std::map<std::pair<std::string, Device>, DeviceBackendFactory>& registry() {
  static std::map<std::pair<std::string, Device>, DeviceBackendFactory> r;
  return r;
}

}  // namespace

void register_device_backend(std::string_view method, Device device, DeviceBackendFactory factory) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry()[{std::string(method), device}] = std::move(factory);
}

std::unique_ptr<AttentionBackend> make_device_backend(const MethodSpec& spec, const Budget& budget,
                                                      Device device,
                                                      const SupportAttentionOptions& run) {
  DeviceBackendFactory f;
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    auto it = registry().find({spec.method, device});
    if (it == registry().end()) return nullptr;
    f = it->second;
  }
  return f(spec, producer_options(spec, budget), run);
}

}  // namespace spf
