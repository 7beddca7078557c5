#include "attention/support_view.h"

#include "core/error.h"

namespace spf {

int group_of_head(int h, int n_groups, int n_heads, int n_kv_heads) {
  SPF_CHECK(h >= 0 && h < n_heads, "support: head ", h, " out of range [0, ", n_heads, ")");
  // When two of these counts coincide the mappings agree, so the order of the tests does not
  // matter.
  if (n_groups == 1) return 0;
  if (n_groups == n_kv_heads) return h / (n_heads / n_kv_heads);
  if (n_groups == n_heads) return h;
  fail("support: n_groups = ", n_groups, " matches neither 1, n_kv_heads = ", n_kv_heads,
       " nor n_heads = ", n_heads);
}

}  // namespace spf
