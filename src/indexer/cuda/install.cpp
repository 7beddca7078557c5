#include "indexer/cuda/install.h"

#include "core/error.h"
#include "indexer/checkpoint.h"
#include "indexer/cuda/cuda_indexer_backend.h"
#include "support/device_backend.h"

namespace spf {

void install_cuda_indexer_method() {
  register_device_backend(
      "indexer", Device::cuda,
      [](const MethodSpec& spec, const ProducerOptions& o, const SupportAttentionOptions& run) {
        const IndexerFile file = load_indexer(spec.path);
        SPF_CHECK(o.block <= 64, "indexer:", spec.path, ": block ", o.block,
                  " on the GPU (queries sharing one key list) must be at most 64");
        CudaIndexerOptions io;
        io.budget = o.budget;
        io.q_block = o.block;
        io.dense_decode = run.dense_decode;
        // The run's selection (empty: every layer) less its first dense_layers layers.
        if (!run.sparse_layers.empty() || run.dense_layers > 0) {
          io.sparse_layers.kind = LayerSelection::Kind::list;
          for (int i = run.dense_layers; i < file.weights.config.n_layers; ++i)
            if (run.sparse_layers.empty() ||
                (size_t(i) < run.sparse_layers.size() && run.sparse_layers[size_t(i)] != 0))
              io.sparse_layers.layers.push_back(i);
        }
        return std::unique_ptr<AttentionBackend>(
            std::make_unique<CudaIndexerBackend>(file.weights, io));
      });
}

}  // namespace spf
