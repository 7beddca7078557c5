// The CPU reference of cuda_indexer_finish (indexer_finish.h): indexer_model.cpp's mix and RoPE
// arithmetic, rounded to bf16 (or kept in f32).
#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "indexer/cuda/indexer_finish.h"

namespace spf {

void indexer_finish_reference(const IndexerFinishArgs& a) {
  SPF_CHECK(a.in != nullptr && (a.out != nullptr) != (a.out_f32 != nullptr) && a.dim >= 1 &&
                a.heads >= 1 && a.vecs_per_pos >= 1 && a.rope_dims >= 0 && a.rope_dims <= a.dim &&
                (a.heads == 1 || a.mix != nullptr),
            "indexer finish reference: bad arguments");
  const int d = a.dim, half = a.rope_dims / 2;
  std::vector<float> o(static_cast<size_t>(d));
  for (int64_t v = 0; v < a.n_vec; ++v) {
    for (int e = 0; e < d; ++e) {
      if (a.mix == nullptr) {
        o[size_t(e)] = a.in[v * d + e];
        continue;
      }
      float acc = 0.0f;
      for (int h = 0; h < a.heads; ++h)
        acc += a.mix[v * a.heads + h] * a.in[(v * a.heads + h) * d + e];
      o[size_t(e)] = acc;
    }
    const float pos = float(double(a.pos0 + v / a.vecs_per_pos));
    for (int i = 0; i < half; ++i) {
      const float ang = pos * a.inv_freq[i];
      const float cs = std::cos(ang), sn = a.inverse ? -std::sin(ang) : std::sin(ang);
      const float x = o[size_t(i)], b = o[size_t(i + half)];
      o[size_t(i)] = x * cs - b * sn;
      o[size_t(i + half)] = b * cs + x * sn;
    }
    for (int e = 0; e < d; ++e) {
      if (a.out_f32 != nullptr) {
        a.out_f32[v * d + e] = o[size_t(e)];
      } else {
        a.out[v * d + e] = f32_to_bf16(o[size_t(e)]);
      }
    }
  }
}

}  // namespace spf
