// A short indexer-training configuration shared by the CPU and GPU trainer tests: a high learning
// rate, three warm-up steps and a fixed seed, so that a few dozen steps visibly lower the KL.
#pragma once

#include <cstdint>

#include "indexer/trainer.h"

namespace spf::test {

inline TrainConfig short_train(int d_idx, int rope_dims, int64_t seq_len, int64_t steps) {
  TrainConfig c;
  c.d_idx = d_idx;
  c.rope_dims = rope_dims;
  c.seq_len = seq_len;
  c.steps = steps;
  c.lr = 1e-2;
  c.warmup = 3;
  c.seed = 5;
  c.data = "synthetic test stream";
  return c;
}

}  // namespace spf::test
