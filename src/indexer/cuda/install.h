// Registers the GPU indexer (CudaIndexerBackend) as the Device::cuda backend of the method
// indexer:FILE (support/device_backend.h), so that eval, sweep and logits with --device cuda serve
// indexer specs on the device. The spec maps as: the budget (with sink / window) as is; token
// granularity -> q_block 1, blockB -> q_block B (<= 64; queries sharing one token key list, the
// GPU's block-shared form); the run's sparse-layer mask less its first dense_layers -> the layer
// selection. Idempotent.
#pragma once

namespace spf {

void install_cuda_indexer_method();

}  // namespace spf
