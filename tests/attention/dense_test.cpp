#include "attention/cpu/dense.h"

#include <gtest/gtest.h>

#include "attention/cpu/cpu_executor.h"
#include "attention/cpu/reference.h"
#include "attention_inputs.h"
#include "core/error.h"
#include "core/threads.h"

namespace spf {
namespace {

struct DenseCase {
  int64_t n_q, n_kv;
  int heads, kv_heads, head_dim;
  int q_tile, k_tile;
};

class DenseVsReference : public ::testing::TestWithParam<DenseCase> {};

TEST_P(DenseVsReference, MatchesDoublePrecision) {
  const DenseCase c = GetParam();
  test::AttnInputs in = test::make_inputs(c.n_q, c.n_kv, c.heads, c.kv_heads, c.head_dim, 11);
  test::AttnInputs ref = in;
  DenseOptions o;
  o.q_tile = c.q_tile;
  o.k_tile = c.k_tile;
  dense_attention(in.call(), o);
  reference_attention(ref.call());
  EXPECT_LT(test::rel_max_diff(in.out, ref.out), 2e-6);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, DenseVsReference,
    ::testing::Values(DenseCase{1, 1, 1, 1, 64, 64, 256},      // a single token
                      DenseCase{1, 300, 4, 2, 64, 64, 256},    // decode: one query after a prefix
                      DenseCase{100, 100, 2, 2, 64, 64, 256},  // not a multiple of the query tile
                      DenseCase{300, 300, 3, 1, 64, 64, 256},  // GQA 3, crosses a key tile
                      DenseCase{37, 500, 4, 1, 128, 64, 256},  // continued prefill, GQA 4
                      DenseCase{70, 70, 8, 1, 128, 64, 256},   // GQA 8
                      DenseCase{65, 129, 2, 1, 256, 64, 256},  // head_dim 256
                      DenseCase{45, 90, 4, 4, 128, 7, 13},     // odd tiles
                      DenseCase{10, 10, 6, 2, 64, 1, 1}));     // degenerate tiles

TEST(DenseAttention, KeySplitsMatchReference) {
  // Decode and short continued prefill with the key range split 1..7 ways (the merge path).
  for (const int64_t n_q : {int64_t(1), int64_t(3), int64_t(70)}) {
    test::AttnInputs in = test::make_inputs(n_q, 700, 4, 2, 64, 13);
    test::AttnInputs ref = in;
    reference_attention(ref.call());
    for (const int splits : {1, 2, 3, 7}) {
      DenseOptions o;
      o.k_tile = 64;
      o.key_splits = splits;
      dense_attention(in.call(), o);
      EXPECT_LT(test::rel_max_diff(in.out, ref.out), 2e-6) << "n_q " << n_q << " splits " << splits;
    }
  }
}

// The shape whose key-split path crashed at 16 threads on a host with the pthreads OpenBLAS:
// 129 queries over 4097 keys, 2 heads of 256, with as many OpenMP threads as that host has (and
// the automatic split count they imply), against the double-precision reference.
TEST(DenseAttention, KeySplitsAtSixteenThreadsMatchReference) {
  const int saved = num_threads();
  for (const int kv_heads : {1, 2}) {
    test::AttnInputs in = test::make_inputs(129, 4097, 2, kv_heads, 256, 17);
    test::AttnInputs ref = in;
    reference_attention(ref.call());
    set_num_threads(16);
    dense_attention(in.call(), DenseOptions{});
    set_num_threads(saved);
    EXPECT_LT(test::rel_max_diff(in.out, ref.out), 2e-6) << "kv_heads " << kv_heads;
  }
}

TEST(DenseAttention, BackendEqualsFreeFunction) {
  test::AttnInputs a = test::make_inputs(50, 80, 4, 2, 64, 3);
  test::AttnInputs b = a;
  DenseBackend backend(cpu_executor());
  AttentionBackend& base = backend;
  base.attend(a.call());
  dense_attention(b.call());
  EXPECT_EQ(a.out, b.out);
}

TEST(DenseAttention, OneTokenSeesOnlyItselfSoOutputIsItsValue) {
  test::AttnInputs in = test::make_inputs(1, 1, 2, 1, 64, 5);
  dense_attention(in.call());
  for (int h = 0; h < 2; ++h) {
    for (int c = 0; c < 64; ++c) EXPECT_FLOAT_EQ(in.out[size_t(h * 64 + c)], in.v[size_t(c)]);
  }
}

TEST(DenseAttention, RejectsInconsistentShapes) {
  test::AttnInputs in = test::make_inputs(8, 8, 4, 2, 64, 1);
  AttentionCall c = in.call();
  c.shape.n_kv_heads = 3;  // 4 heads are not a multiple of 3
  EXPECT_THROW(dense_attention(c), Error);
  c = in.call();
  c.shape.q_pos0 = 1;  // queries would reach position 8 of an 8-key cache
  EXPECT_THROW(dense_attention(c), Error);
  c = in.call();
  c.v = {};
  EXPECT_THROW(dense_attention(c), Error);
  c = in.call();
  c.shape.n_q = 0;
  EXPECT_THROW(dense_attention(c), Error);
  EXPECT_THROW(dense_attention(in.call(), DenseOptions{0, 256}), Error);
  DenseOptions neg;
  neg.key_splits = -1;
  EXPECT_THROW(dense_attention(in.call(), neg), Error);
}

TEST(AttentionShape, ErrorsSayWhatIsWrong) {
  AttentionShape s;
  s.n_q = 4;
  s.n_kv = 2;
  s.n_heads = 2;
  s.n_kv_heads = 1;
  s.head_dim = 8;
  try {
    s.validate();
    FAIL() << "expected spf::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("n_kv = 2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace spf
