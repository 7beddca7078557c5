// Methods that run wholly on a device, without a host producer (the learned indexer on the GPU:
// indexer/cuda/): the library implementing one registers a factory per (method, device), and
// make_device_backend() builds it from the same spec and budget a host producer would take. For
// every other (method, device) it returns null and callers use SupportAttention(make_producer(...),
// executor_for(device)), which serves host producers with a device executor.
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "attention/attention.h"
#include "support/method_spec.h"
#include "support/producer.h"
#include "support/support_attention.h"

namespace spf {

using DeviceBackendFactory = std::function<std::unique_ptr<AttentionBackend>(
    const MethodSpec& spec, const ProducerOptions& options, const SupportAttentionOptions& run)>;

void register_device_backend(std::string_view method, Device device, DeviceBackendFactory factory);

// Null when no factory is registered for spec.method on device.
std::unique_ptr<AttentionBackend> make_device_backend(const MethodSpec& spec, const Budget& budget,
                                                      Device device,
                                                      const SupportAttentionOptions& run);

}  // namespace spf
