#include "attention/cpu/dense.h"
#include "model/model.h"

namespace spf {

AttentionBackend& dense_attention_backend() {
  // Stateless, so one shared instance serves every caller and thread.
  static DenseAttention backend;
  return backend;
}

}  // namespace spf
