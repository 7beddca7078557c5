// Text-like input for the SmolLM2 tests of this folder: a short seed continued greedily by the CPU
// model (a walk over the vocabulary would not be text, and its flat attention would make every
// top-k a near-tie).
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "model/model.h"

namespace spf::test {

inline std::vector<int32_t> model_text_ids(const Model& cpu, size_t n = 400) {
  std::vector<int32_t> ids = {1, 504, 3458, 282, 2380, 314, 253, 1173, 28};
  auto st = cpu.new_state(int64_t(n) + 16);
  std::vector<float> last(static_cast<size_t>(cpu.config().vocab_size));
  cpu.forward(ids, *st, dense_attention_backend(), LogitsMode::last, last);
  while (ids.size() < n) {
    ids.push_back(int32_t(std::max_element(last.begin(), last.end()) - last.begin()));
    cpu.forward(std::span(ids).last(1), *st, dense_attention_backend(), LogitsMode::last, last);
  }
  return ids;
}

}  // namespace spf::test
