#include "attention/cpu/merge.h"

#include <algorithm>
#include <cmath>

namespace spf {

void merge_attention_partials(float* out_a, float* lse_a, const float* out_b, const float* lse_b,
                              int64_t rows, int dim) {
  for (int64_t r = 0; r < rows; ++r) {
    const float la = lse_a[r], lb = lse_b[r];
    float* oa = out_a + r * dim;
    const float* ob = out_b + r * dim;
    if (std::isinf(lb) && lb < 0) continue;
    if (std::isinf(la) && la < 0) {
      for (int c = 0; c < dim; ++c) oa[c] = ob[c];
      lse_a[r] = lb;
      continue;
    }
    const float m = std::max(la, lb);
    const float wa = std::exp(la - m), wb = std::exp(lb - m);
    const float l = wa + wb;
    for (int c = 0; c < dim; ++c) oa[c] = (wa * oa[c] + wb * ob[c]) / l;
    lse_a[r] = m + std::log(l);
  }
}

}  // namespace spf
