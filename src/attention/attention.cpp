#include "attention/attention.h"

#include "core/error.h"

namespace spf {

void AttentionShape::validate() const {
  SPF_CHECK(n_q >= 1, "attention shape: n_q = ", n_q, " (need at least one query)");
  SPF_CHECK(q_pos0 >= 0, "attention shape: q_pos0 = ", q_pos0, " is negative");
  SPF_CHECK(n_kv >= q_pos0 + n_q, "attention shape: n_kv = ", n_kv,
            " < q_pos0 + n_q = ", q_pos0 + n_q,
            " (queries would see keys that are not in the cache)");
  SPF_CHECK(n_heads >= 1 && n_kv_heads >= 1, "attention shape: n_heads = ", n_heads,
            ", n_kv_heads = ", n_kv_heads, " (both must be >= 1)");
  SPF_CHECK(n_heads % n_kv_heads == 0, "attention shape: n_heads = ", n_heads,
            " is not a multiple of n_kv_heads = ", n_kv_heads);
  SPF_CHECK(head_dim >= 1, "attention shape: head_dim = ", head_dim, " (must be >= 1)");
  SPF_CHECK(scale > 0.0f && scale == scale, "attention shape: scale = ", scale, " (must be > 0)");
}

void AttentionCall::validate() const {
  shape.validate();
  SPF_CHECK(q != nullptr && k != nullptr && v != nullptr && out != nullptr,
            "attention call (layer ", layer, "): q, k, v and out must all be set");
}

}  // namespace spf
