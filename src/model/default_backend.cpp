#include "attention/cpu/cpu_executor.h"
#include "model/model.h"

namespace spf {

AttentionBackend& dense_attention_backend() {
  // Stateless, so one shared instance serves every caller and thread.
  static DenseBackend backend(cpu_executor());
  return backend;
}

}  // namespace spf
