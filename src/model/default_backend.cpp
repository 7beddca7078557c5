#include <memory>
#include <mutex>

#include "attention/cpu/cpu_executor.h"
#include "model/model.h"

namespace spf {

AttentionBackend& dense_attention_backend(Device device) {
  // Stateless, so one shared instance per device serves every caller and thread.
  static DenseBackend cpu(cpu_executor());
  if (device == Device::cpu) return cpu;
  static std::mutex m;
  static std::unique_ptr<DenseBackend> other[2];
  std::lock_guard<std::mutex> lock(m);
  auto& b = other[size_t(device)];
  if (!b) b = std::make_unique<DenseBackend>(executor_for(device));
  return *b;
}

}  // namespace spf
