#include <array>
#include <mutex>

#include "attention/cpu/cpu_executor.h"
#include "attention/executor.h"
#include "core/error.h"

namespace spf {

namespace {

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

std::array<AttentionExecutor*, 2>& registry() {
  static std::array<AttentionExecutor*, 2> r{};
  return r;
}

}  // namespace

void register_device_executor(Device device, AttentionExecutor* executor) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry()[size_t(device)] = executor;
}

AttentionExecutor& executor_for(Device device) {
  if (device == Device::cpu) return cpu_executor();
  std::lock_guard<std::mutex> lock(registry_mutex());
  AttentionExecutor* e = registry()[size_t(device)];
  SPF_CHECK(e != nullptr, "no attention executor for device ", device_name(device),
            " (this build has no ", device_name(device), " support, or it was not installed)");
  return *e;
}

}  // namespace spf
